using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Aurous.Api.Tests;

/// <summary>
/// HTTP/1.1 written by hand on a socket, for requests HttpClient will not send as such (a header line repeated rather
/// than joined, a bare CR) and to see exactly what the server answers.
/// </summary>
public static class RawHttp
{
    public sealed record Response(int Status, IReadOnlyList<(string Name, string Value)> Headers, string Body)
    {
        public string? Header(string name) => Headers.FirstOrDefault(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

        public JsonElement Error() => JsonDocument.Parse(Body).RootElement.GetProperty("error");
    }

    /// <param name="headerLines">Lines after the request line, without Host, Content-Length and Connection (added here).</param>
    public static async Task<Response> SendAsync(Uri endpoint, string method, string target, IEnumerable<string> headerLines, byte[]? body = null)
    {
        var head = new StringBuilder($"{method} {target} HTTP/1.1\r\nHost: {endpoint.Authority}\r\nConnection: close\r\n");
        foreach (var line in headerLines)
        {
            head.Append(line).Append("\r\n");
        }
        if (body is not null)
        {
            head.Append($"Content-Length: {body.Length}\r\n");
        }
        head.Append("\r\n");

        using var socket = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await socket.ConnectAsync(endpoint.Host, endpoint.Port, timeout.Token);
        var stream = socket.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(head.ToString()), timeout.Token);
        if (body is not null)
        {
            await stream.WriteAsync(body, timeout.Token);
        }
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, timeout.Token);
        return Parse(received.ToArray());
    }

    private static Response Parse(byte[] raw)
    {
        var text = Encoding.UTF8.GetString(raw);
        var split = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = (split < 0 ? text : text[..split]).Split("\r\n");
        var body = split < 0 ? "" : text[(split + 4)..];
        var status = int.Parse(head[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = head.Skip(1).Select(l => l.Split(':', 2)).Select(p => (p[0].Trim(), p.Length > 1 ? p[1].Trim() : "")).ToList();
        if (headers.Any(h => h.Item1.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase) && h.Item2.Contains("chunked", StringComparison.OrdinalIgnoreCase)))
        {
            body = Dechunk(body);
        }
        return new Response(status, headers, body);
    }

    private static string Dechunk(string body)
    {
        var result = new StringBuilder();
        var at = 0;
        while (at < body.Length)
        {
            var lineEnd = body.IndexOf("\r\n", at, StringComparison.Ordinal);
            var size = Convert.ToInt32(body[at..lineEnd].Split(';')[0], 16);
            if (size == 0)
            {
                break;
            }
            result.Append(body, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }
        return result.ToString();
    }
}
