namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// One node of a compiled <c>response_format</c> schema. <see cref="JsonSchemaCompiler"/> builds the tree;
/// <see cref="JsonPrefixAutomaton"/> walks it.
/// </summary>
public sealed class SchemaNode
{
    public enum NodeKind { Any, Object, Array, String, Number, Integer, Literal }

    public NodeKind Kind { get; init; }
    /// <summary>Object: declared properties, in declaration order (emitted in this order). Free objects have none.</summary>
    public IReadOnlyList<(string Name, SchemaNode Schema, bool Required)> Properties { get; init; } = [];
    /// <summary>Object: each property name as JSON text (quoted, escaped), by property index.</summary>
    public string[] KeyTexts { get; init; } = [];
    /// <summary>Object: any keys, values of any type (json_object mode).</summary>
    public bool Free { get; init; }
    public SchemaNode? Items { get; init; }
    public int MinItems { get; init; }
    public int MaxItems { get; init; } = int.MaxValue;
    /// <summary>String: the most characters (UTF-16 units; an escape counts as one) before only the closing quote is allowed.</summary>
    public int MaxLength { get; init; } = JsonSchemaCompiler.DefaultMaxStringLength;
    /// <summary>Literal: the allowed values as JSON text (enum, true/false, null).</summary>
    public string[] Literals { get; init; } = [];

    internal static readonly SchemaNode AnyValue = new() { Kind = NodeKind.Any };
    internal static readonly SchemaNode FreeObject = new() { Kind = NodeKind.Object, Free = true, MaxItems = JsonSchemaCompiler.DefaultMaxMembers };
    internal static readonly SchemaNode AnyArray = new() { Kind = NodeKind.Array, Items = AnyValue, MaxItems = JsonSchemaCompiler.DefaultMaxItems };
    internal static readonly SchemaNode AnyString = new() { Kind = NodeKind.String };
    internal static readonly SchemaNode AnyNumber = new() { Kind = NodeKind.Number };
    internal static readonly SchemaNode Boolean = new() { Kind = NodeKind.Literal, Literals = ["true", "false"] };
    internal static readonly SchemaNode Null = new() { Kind = NodeKind.Literal, Literals = ["null"] };
}
