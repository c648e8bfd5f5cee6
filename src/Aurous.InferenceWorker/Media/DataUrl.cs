namespace Aurous.InferenceWorker.Media;

/// <summary>RFC 2397 <c>data:[&lt;mediatype&gt;][;base64],&lt;data&gt;</c> URLs, base64 or percent-encoded.</summary>
public static class DataUrl
{
    public static byte[] Decode(string url, long maxBytes)
    {
        const int prefix = 5; // "data:"
        var comma = url.IndexOf(',', prefix);
        if (comma < 0)
        {
            throw Invalid("it has no ',' separating the header from the data");
        }
        var header = url.AsSpan(prefix, comma - prefix);
        var data = url.AsSpan(comma + 1);
        if (header.EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
        {
            // Three bytes per four characters: refuse before decoding anything.
            if ((long)data.Length / 4 * 3 > maxBytes + 3)
            {
                throw SafeMediaFetcher.TooLarge(maxBytes, $"the data: URL holds about {(long)data.Length / 4 * 3} bytes");
            }
            var bytes = new byte[data.Length / 4 * 3 + 3];
            if (!Convert.TryFromBase64Chars(data, bytes, out var written))
            {
                throw Invalid("its base64 data is malformed");
            }
            if (written > maxBytes)
            {
                throw SafeMediaFetcher.TooLarge(maxBytes, $"the data: URL holds {written} bytes");
            }
            return bytes.AsSpan(0, written).ToArray();
        }
        return PercentDecode(data, maxBytes);
    }

    private static byte[] PercentDecode(ReadOnlySpan<char> data, long maxBytes)
    {
        var result = new List<byte>(Math.Min(data.Length, 1 << 16));
        for (var i = 0; i < data.Length; i++)
        {
            var c = data[i];
            if (c == '%')
            {
                if (i + 2 >= data.Length || !byte.TryParse(data.Slice(i + 1, 2), System.Globalization.NumberStyles.HexNumber, null, out var value))
                {
                    throw Invalid($"it has a malformed percent escape at data offset {i}");
                }
                result.Add(value);
                i += 2;
            }
            else if (c < 0x80)
            {
                result.Add((byte)c);
            }
            else
            {
                throw Invalid("non-ASCII characters must be percent-encoded");
            }
            if (result.Count > maxBytes)
            {
                throw SafeMediaFetcher.TooLarge(maxBytes, "the data: URL holds more");
            }
        }
        return [.. result];
    }

    private static MediaException Invalid(string why) => new(MediaErrorCodes.InvalidMediaUrl, $"malformed data: URL: {why}");
}
