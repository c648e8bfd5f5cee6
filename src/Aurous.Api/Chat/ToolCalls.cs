using System.Text;

namespace Aurous.Api.Chat;

/// <summary>A tool call of a completion being generated: its id (<c>call_</c> + 24 characters), name and argument text.</summary>
public sealed record GeneratedToolCall(string Id, string Name)
{
    public StringBuilder Arguments { get; } = new();
}

/// <summary>One <c>delta.tool_calls[]</c> entry of a stream chunk.</summary>
public sealed record ToolCallDelta(int Index, string? Id, string? Name, string Arguments);

/// <summary>Tool call ids in OpenAI's form: <c>call_</c> and 24 random letters and digits.</summary>
public static class ToolCallIds
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    public static string New() => "call_" + System.Security.Cryptography.RandomNumberGenerator.GetString(Alphabet, 24);
}
