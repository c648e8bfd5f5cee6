using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Aurous.ServiceDefaults.Network;
using Microsoft.Extensions.Options;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// Sends one signed delivery attempt: a POST of the event's JSON with the Standard Webhooks headers, to public internet
/// addresses only (<see cref="OutboundAddressPolicy"/>, checked on every connection), redirects not followed, bounded by
/// <see cref="WebhookOptions.AttemptTimeout"/>. Never throws for what the receiver does: that is the attempt's result.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    public const string IdHeader = "webhook-id";
    public const string TimestampHeader = "webhook-timestamp";
    public const string SignatureHeader = "webhook-signature";

    private readonly HttpClient _client;
    private readonly TimeSpan _timeout;

    public WebhookSender(IOptions<WebhookOptions> options)
    {
        _timeout = options.Value.AttemptTimeout;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false, // a proxy would make the connect-time check see the proxy, not the receiver
            UseCookies = false,
            ConnectTimeout = _timeout,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            MaxResponseHeadersLength = 64,
            ConnectCallback = OutboundAddressPolicy.ConnectCallback(options.Value.AllowPrivateNetworks, "webhook endpoints must be on the public internet"),
        };
        _client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _client.DefaultRequestHeaders.UserAgent.ParseAdd("Aurous-Webhooks/1.0");
    }

    public async Task<AttemptResult> SendAsync(string url, string messageId, DateTimeOffset timestamp, string signature, string body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url)
        {
            Content = new StringContent(body, Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        request.Headers.TryAddWithoutValidation(IdHeader, messageId);
        request.Headers.TryAddWithoutValidation(TimestampHeader, timestamp.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(SignatureHeader, signature);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var code = (int)response.StatusCode;
            return new AttemptResult(code, Stopwatch.GetElapsedTime(started),
                response.IsSuccessStatusCode ? null
                : code is >= 300 and < 400 ? $"HTTP {code}: redirects are not followed"
                : $"HTTP {code} {response.ReasonPhrase}".TrimEnd());
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new AttemptResult(null, Stopwatch.GetElapsedTime(started), $"no answer within {_timeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException ex)
        {
            return new AttemptResult(null, Stopwatch.GetElapsedTime(started), Describe(ex));
        }
    }

    private static string Describe(HttpRequestException ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case ForbiddenAddressException forbidden:
                    return forbidden.Message;
                case System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused }:
                    return "connection refused";
                case System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.HostNotFound or System.Net.Sockets.SocketError.NoData or System.Net.Sockets.SocketError.TryAgain }:
                    return "the host could not be resolved";
            }
        }
        return ex.HttpRequestError == HttpRequestError.Unknown ? ex.Message : $"{ex.HttpRequestError}: {ex.Message}";
    }

    public void Dispose() => _client.Dispose();
}
