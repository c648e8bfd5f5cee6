namespace Aurous.ModelForge.Onnx;

/// <summary>ONNX TensorProto.DataType values (onnx.proto).</summary>
public enum OnnxDataType
{
    Float = 1,
    Int32 = 6,
    Int64 = 7,
}

/// <summary>ONNX AttributeProto.AttributeType values (onnx.proto).</summary>
public enum OnnxAttributeType
{
    Float = 1,
    Int = 2,
    String = 3,
    Ints = 7,
}

/// <summary>An ONNX model: the minimum of ModelProto that ONNX Runtime needs, plus metadata.</summary>
public sealed record OnnxModel(OnnxGraph Graph)
{
    /// <summary>IR version 8 (ONNX 1.10+); every runtime of the last years reads it.</summary>
    public long IrVersion { get; init; } = 8;
    /// <summary>Default-domain opset. 17 keeps ReduceSum's axes as an input and ReduceL2's as an attribute.</summary>
    public long OpsetVersion { get; init; } = 17;
    public string ProducerName { get; init; } = "aurous-modelforge";
    public string ProducerVersion { get; init; } = "1";
    public string Domain { get; init; } = "ai.aurous";
    public long ModelVersion { get; init; } = 1;
    public string? DocString { get; init; }
    /// <summary>Written in the given order (keep it stable for byte-identical output).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Metadata { get; init; } = [];
}

public sealed record OnnxGraph(
    string Name,
    IReadOnlyList<OnnxNode> Nodes,
    IReadOnlyList<OnnxValueInfo> Inputs,
    IReadOnlyList<OnnxValueInfo> Outputs,
    IReadOnlyList<OnnxTensor> Initializers);

public sealed record OnnxNode(string OpType, IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs, string? Name = null)
{
    public IReadOnlyList<OnnxAttribute> Attributes { get; init; } = [];
}

public sealed record OnnxAttribute
{
    private OnnxAttribute(string name, OnnxAttributeType type)
    {
        Name = name;
        Type = type;
    }

    public string Name { get; }
    public OnnxAttributeType Type { get; }
    public float FloatValue { get; private init; }
    public long IntValue { get; private init; }
    public string? StringValue { get; private init; }
    public IReadOnlyList<long> IntsValue { get; private init; } = [];

    public static OnnxAttribute Int(string name, long value) => new(name, OnnxAttributeType.Int) { IntValue = value };
    public static OnnxAttribute Float(string name, float value) => new(name, OnnxAttributeType.Float) { FloatValue = value };
    public static OnnxAttribute String(string name, string value) => new(name, OnnxAttributeType.String) { StringValue = value };
    public static OnnxAttribute Ints(string name, params long[] values) => new(name, OnnxAttributeType.Ints) { IntsValue = values };
}

/// <summary>A tensor dimension: a fixed size or a symbolic name (e.g. "batch").</summary>
public readonly record struct OnnxDim(long? Value, string? Param)
{
    public static implicit operator OnnxDim(long value) => new(value, null);
    public static implicit operator OnnxDim(string param) => new(null, param);
    public override string ToString() => Param ?? Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?";
}

/// <summary>A graph input or output (ValueInfoProto with a tensor type).</summary>
public sealed record OnnxValueInfo(string Name, OnnxDataType ElementType, IReadOnlyList<OnnxDim> Shape);

/// <summary>An initializer (TensorProto) stored as little-endian raw_data.</summary>
public sealed record OnnxTensor(string Name, OnnxDataType DataType, IReadOnlyList<long> Dims, ReadOnlyMemory<byte> RawData)
{
    public static OnnxTensor FromFloats(string name, long[] dims, float[] values)
    {
        CheckCount(name, dims, values.Length);
        return new OnnxTensor(name, OnnxDataType.Float, dims, LittleEndianBytes<float>(values));
    }

    public static OnnxTensor FromInt64s(string name, long[] dims, long[] values)
    {
        CheckCount(name, dims, values.Length);
        return new OnnxTensor(name, OnnxDataType.Int64, dims, LittleEndianBytes<long>(values));
    }

    private static void CheckCount(string name, long[] dims, int count)
    {
        var expected = dims.Aggregate(1L, (a, d) => a * d);
        if (expected != count)
        {
            throw new ArgumentException($"Tensor '{name}' has {count} values but its shape [{string.Join(", ", dims)}] needs {expected}.");
        }
    }

    private static byte[] LittleEndianBytes<T>(T[] values) where T : unmanaged
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
        if (!BitConverter.IsLittleEndian)
        {
            var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
            for (var i = 0; i < bytes.Length; i += size)
            {
                Array.Reverse(bytes, i, size);
            }
        }
        return bytes;
    }
}
