using System.Runtime.CompilerServices;
using System.Text;

namespace Aurous.Api.Pipeline;

/// <summary>
/// The text of an error message. Written as an interpolated string, every value put into it (a model name, a
/// parameter, a path, a header) is cut to <see cref="MaxValueLength"/> characters with an ellipsis, so an error never
/// echoes unbounded client input; the literal parts are kept whole.
/// </summary>
[InterpolatedStringHandler]
public readonly struct ErrorText
{
    public const int MaxValueLength = 96;

    private readonly StringBuilder _text;

    public ErrorText(int literalLength, int formattedCount) => _text = new StringBuilder(literalLength + formattedCount * 16);

    private ErrorText(string text) => _text = new StringBuilder(text);

    public static implicit operator ErrorText(string text) => new(text);

    public void AppendLiteral(string value) => _text.Append(value);

    public void AppendFormatted<T>(T value) => _text.Append(Bound(value switch
    {
        null => "",
        IFormattable f => f.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    }));

    public void AppendFormatted<T>(T value, string? format) where T : IFormattable =>
        _text.Append(Bound(value?.ToString(format, System.Globalization.CultureInfo.InvariantCulture) ?? ""));

    public override string ToString() => _text?.ToString() ?? "";

    /// <summary>A client value as an error message may quote it: at most <see cref="MaxValueLength"/> characters.</summary>
    public static string Bound(string value) => BoundTo(value, MaxValueLength);

    public static string BoundTo(string value, int length) =>
        value.Length <= length ? value : string.Concat(value.AsSpan(0, length - 1), "…");
}
