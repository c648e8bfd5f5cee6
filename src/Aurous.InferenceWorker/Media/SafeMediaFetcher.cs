using System.Net;
using System.Net.Sockets;

namespace Aurous.InferenceWorker.Media;

/// <summary>
/// Fetches the bytes behind a media URL without becoming an SSRF tool:
/// <list type="bullet">
/// <item>only <c>http</c>, <c>https</c> and <c>data:</c> URLs; no credentials in the URL; no proxy;</item>
/// <item>every connection's address is checked when the socket is opened (<see cref="SocketsHttpHandler.ConnectCallback"/>), on the
/// addresses DNS actually returned, so DNS rebinding and hostnames that point inside cannot slip through; loopback, private,
/// link-local (incl. 169.254.169.254), CGNAT, multicast, reserved, documentation, unique-local and IPv4-in-IPv6 forms of
/// those are refused;</item>
/// <item>redirects are followed by hand (at most <see cref="MaxRedirects"/>), each hop checked the same way;</item>
/// <item>size capped by Content-Length and again while streaming; one total timeout for the whole fetch.</item>
/// </list>
/// Failures are <see cref="MediaException"/>s with the codes of <see cref="MediaErrorCodes"/>.
/// </summary>
public sealed class SafeMediaFetcher : IDisposable
{
    public const int MaxRedirects = 3;

    private readonly HttpClient _client;
    private readonly bool _allowPrivateNetworks;

    public SafeMediaFetcher(MediaOptions options)
    {
        _allowPrivateNetworks = options.AllowPrivateNetworks;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false, // a proxy would make the connect-time check see the proxy, not the target
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None, // the size cap counts the bytes we store
            ConnectTimeout = TimeSpan.FromSeconds(10),
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            MaxResponseHeadersLength = 64,
            ConnectCallback = ConnectAsync,
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

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host.Trim('[', ']');
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = _allowPrivateNetworks ? addresses : addresses.Where(a => !IsForbidden(a)).ToArray();
        if (allowed.Length == 0)
        {
            // The message never names the address: it would let any caller map internal DNS names.
            throw new ForbiddenAddressException(
                $"'{host}' does not resolve to a public internet address; media URLs must point to the public internet");
        }
        Exception? last = null;
        foreach (var address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    /// <summary>
    /// True for every address a media URL must not reach: not globally routable unicast (RFC 6890 special-purpose
    /// registries), cloud metadata endpoints included (169.254.169.254, fd00:ec2::254, 100.100.100.200).
    /// IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4) is judged by its IPv4 address.
    /// </summary>
    public static bool IsForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> v4 = stackalloc byte[4];
            address.TryWriteBytes(v4, out _);
            return IsForbiddenV4(v4);
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return true;
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        if (b[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return true; // ::, ::1 and deprecated IPv4-compatible ::a.b.c.d
        }
        if (b[0] == 0xFE && (b[1] & 0xC0) is 0x80 or 0xC0)
        {
            return true; // fe80::/10 link-local, fec0::/10 site-local
        }
        if ((b[0] & 0xFE) == 0xFC || b[0] == 0xFF)
        {
            return true; // fc00::/7 unique-local (fd00:ec2::254 metadata), ff00::/8 multicast
        }
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B)
        {
            // 64:ff9b::/96 NAT64 (judge the embedded IPv4); 64:ff9b:1::/48 local-use NAT64
            return b[4] != 0 || b[5] != 0 || b[6..12].IndexOfAnyExcept((byte)0) >= 0 || IsForbiddenV4(b[12..16]);
        }
        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return IsForbiddenV4(b[2..6]); // 2002::/16 6to4
        }
        if (b[0] == 0x20 && b[1] == 0x01 && ((b[2] == 0x00 && b[3] == 0x00) || (b[2] == 0x0D && b[3] == 0xB8)))
        {
            return true; // 2001::/32 Teredo, 2001:db8::/32 documentation
        }
        if (b[0] == 0x01 && b[1] == 0x00 && b[2..8].IndexOfAnyExcept((byte)0) < 0)
        {
            return true; // 100::/64 discard-only
        }
        return false;
    }

    private static bool IsForbiddenV4(ReadOnlySpan<byte> a) => a[0] switch
    {
        0 => true,                                   // 0.0.0.0/8 "this network"
        10 => true,                                  // 10/8 private
        100 => (a[1] & 0xC0) == 64,                  // 100.64/10 CGNAT (incl. 100.100.100.200 metadata)
        127 => true,                                 // loopback
        169 => a[1] == 254,                          // 169.254/16 link-local (incl. 169.254.169.254 metadata)
        172 => (a[1] & 0xF0) == 16,                  // 172.16/12 private
        192 => (a[1] == 168)                         // 192.168/16 private
            || (a[1] == 0 && a[2] is 0 or 2)         // 192.0.0/24 IETF, 192.0.2/24 TEST-NET-1
            || (a[1] == 88 && a[2] == 99),           // 192.88.99/24 6to4 relay
        198 => (a[1] & 0xFE) == 18                   // 198.18/15 benchmarking
            || (a[1] == 51 && a[2] == 100),          // 198.51.100/24 TEST-NET-2
        203 => a[1] == 0 && a[2] == 113,             // 203.0.113/24 TEST-NET-3
        >= 224 => true,                              // multicast 224/4, reserved 240/4, broadcast
        _ => false,
    };

    public void Dispose() => _client.Dispose();

    private sealed class ForbiddenAddressException(string message) : Exception(message);
}
