using System.Net.Http.Headers;
using System.Text;

namespace Aurous.Bench.Gateway;

/// <summary>
/// One thing under load: a POST of a fixed JSON body to one URL with fixed headers, and (for the API over many teams) an
/// API key taken round-robin from a list. It remembers the first failure it saw, so a broken target is explained.
/// </summary>
public sealed class Target(string name, Uri url, string body, IReadOnlyList<KeyValuePair<string, string>> headers, IReadOnlyList<string>? bearerKeys = null)
{
    private readonly byte[] _body = Encoding.UTF8.GetBytes(body);
    private int _next;

    public string Name => name;

    public Uri Url => url;

    /// <summary>The first failure seen: a status and the start of the body, or the exception's message.</summary>
    public string? FirstFailure { get; private set; }

    /// <summary>Sends one request and reads the whole response; true for a 2xx.</summary>
    public async Task<bool> SendAsync(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(_body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        foreach (var (header, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(header, value);
        }
        if (bearerKeys is { Count: > 0 })
        {
            var key = bearerKeys[(int)((uint)Interlocked.Increment(ref _next) % (uint)bearerKeys.Count)];
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead);
            if (response.IsSuccessStatusCode)
            {
                return true;
            }
            if (FirstFailure is null)
            {
                var text = await response.Content.ReadAsStringAsync();
                FirstFailure = $"{(int)response.StatusCode} {text[..Math.Min(text.Length, 300)]}";
            }
            return false;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
        {
            FirstFailure ??= $"{ex.GetType().Name}: {ex.Message}";
            return false;
        }
    }
}
