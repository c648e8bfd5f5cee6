using System.Net;
using System.Net.Sockets;
using Aurous.ServiceDefaults.Network;

namespace Aurous.InferenceWorker.Media;

/// <summary>
/// Fetches the bytes behind a media URL without becoming an SSRF tool:
/// <list type="bullet">
/// <item>only <c>http</c>, <c>https</c> and <c>data:</c> URLs; no credentials in the URL; no proxy;</item>
/// <item>every connection's address is checked when the socket is opened, by the services' one outbound rule
/// (<see cref="OutboundAddressPolicy"/>: public internet only, unless <c>Media:AllowPrivateNetworks</c>);</item>
/// <item>redirects are followed by hand (at most <see cref="MaxRedirects"/>), each hop checked the same way;</item>
/// <item>size capped by Content-Length and again while streaming; one total timeout for the whole fetch.</item>
/// </list>
/// Failures are <see cref="MediaException"/>s with the codes of <see cref="MediaErrorCodes"/>.
/// </summary>
public sealed class SafeMediaFetcher : IDisposable
{
    public const int MaxRedirects = 3;

    private readonly HttpClient _client;

    public SafeMediaFetcher(MediaOptions options)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false, // a proxy would make the connect-time check see the proxy, not the target
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None, // the size cap counts the bytes we store
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            MaxResponseHeadersLength = 64,
            ConnectCallback = OutboundAddressPolicy.ConnectCallback(options.AllowPrivateNetworks, "media URLs must point to the public internet"),
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("Aurous-MediaFetcher/1.0");
    }

    /// <summary>The bytes of <paramref name="url"/> (http, https or data:), at most <paramref name="maxBytes"/>.</summary>
    public async Task<byte[]> FetchAsync(string url, long maxBytes, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            return DataUrl.Decode(url, maxBytes);
        }
        var uri = ParseHttpUrl(url, "URL");

        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        try
        {
            for (var hop = 0; ; hop++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                using var response = await SendAsync(request, uri, timeoutSource.Token);
                if (IsRedirect(response.StatusCode))
                {
                    if (hop >= MaxRedirects)
                    {
                        throw new MediaException(MediaErrorCodes.MediaFetchFailed, $"more than {MaxRedirects} redirects");
                    }
                    var location = response.Headers.Location
                        ?? throw new MediaException(MediaErrorCodes.MediaFetchFailed, $"HTTP {(int)response.StatusCode} redirect without a Location header");
                    uri = ParseHttpUrl(new Uri(uri, location).AbsoluteUri, "redirect target");
                    continue;
                }
                if (!response.IsSuccessStatusCode)
                {
                    throw new MediaException(MediaErrorCodes.MediaFetchFailed,
                        $"the server answered HTTP {(int)response.StatusCode} {response.ReasonPhrase} for {Describe(uri)}");
                }
                if (response.Content.Headers.ContentLength is { } declared && declared > maxBytes)
                {
                    throw TooLarge(maxBytes, $"the server declares {declared} bytes");
                }
                return await ReadCappedAsync(response.Content, maxBytes, timeoutSource.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MediaException(MediaErrorCodes.MediaFetchFailed, $"fetching {Describe(uri)} took longer than {timeout.TotalSeconds:0.#} s");
        }
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, Uri uri, CancellationToken cancellationToken)
    {
        try
        {
            return await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex) when (Find<ForbiddenAddressException>(ex) is { } forbidden)
        {
            throw new MediaException(MediaErrorCodes.MediaUrlForbidden, forbidden.Message, ex);
        }
        catch (HttpRequestException ex) when (Find<SocketException>(ex) is { SocketErrorCode: SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain })
        {
            throw new MediaException(MediaErrorCodes.MediaFetchFailed, $"the host of {Describe(uri)} could not be resolved", ex);
        }
        catch (HttpRequestException ex)
        {
            throw new MediaException(MediaErrorCodes.MediaFetchFailed, $"could not fetch {Describe(uri)}: {ex.Message}", ex);
        }
    }

    private static async Task<byte[]> ReadCappedAsync(HttpContent content, long maxBytes, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var declared = content.Headers.ContentLength;
        using var buffer = new MemoryStream(declared is { } length ? (int)Math.Min(length, maxBytes) : 64 * 1024);
        var chunk = new byte[81920];
        while (true)
        {
            int read;
            try
            {
                read = await stream.ReadAsync(chunk, cancellationToken);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                throw new MediaException(MediaErrorCodes.MediaFetchFailed, $"the download broke off: {ex.Message}", ex);
            }
            if (read == 0)
            {
                return buffer.ToArray();
            }
            if (buffer.Length + read > maxBytes)
            {
                throw TooLarge(maxBytes, "the body is larger");
            }
            buffer.Write(chunk, 0, read);
        }
    }

    internal static MediaException TooLarge(long maxBytes, string detail) =>
        new(MediaErrorCodes.MediaTooLarge, $"media is limited to {maxBytes} bytes and {detail}");

    private static Uri ParseHttpUrl(string url, string what)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            var scheme = Uri.TryCreate(url, UriKind.Absolute, out var other) ? $"scheme '{other.Scheme}'" : "a malformed URL";
            throw new MediaException(MediaErrorCodes.InvalidMediaUrl, $"the {what} has {scheme}; only https, http and data: URLs are accepted");
        }
        if (uri.UserInfo.Length > 0)
        {
            throw new MediaException(MediaErrorCodes.InvalidMediaUrl, $"the {what} must not contain credentials");
        }
        return uri;
    }

    private static bool IsRedirect(HttpStatusCode status) => status is HttpStatusCode.MovedPermanently or HttpStatusCode.Found
        or HttpStatusCode.SeeOther or HttpStatusCode.TemporaryRedirect or HttpStatusCode.PermanentRedirect;

    /// <summary>Scheme, host and port only: URLs may carry signed query strings that do not belong in error messages.</summary>
    private static string Describe(Uri uri) => uri.GetLeftPart(UriPartial.Authority);

    private static T? Find<T>(Exception? ex) where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T match)
            {
                return match;
            }
        }
        return null;
    }

    public void Dispose() => _client.Dispose();
}
