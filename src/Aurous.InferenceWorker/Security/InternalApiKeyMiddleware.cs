using System.Security.Cryptography;
using System.Text;
using Aurous.Inference.Contracts;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Security;

/// <summary>
/// Refuses every request under <c>/internal</c> that does not carry <c>Authorization: Bearer &lt;InternalApi:Key&gt;</c>,
/// with 401 in the internal error shape. By path rather than per endpoint, so a route added later is covered too.
/// </summary>
public sealed class InternalApiKeyMiddleware(RequestDelegate next, IOptions<InternalApiKeyOptions> options)
{
    // Compared as SHA-256 digests: equal lengths, so FixedTimeEquals leaks neither content nor the key's length.
    private readonly byte[] _expected = SHA256.HashData(Encoding.UTF8.GetBytes(options.Value.Key!));

    public Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments(InternalRoutes.Prefix) || Presents(context.Request))
        {
            return next(context);
        }
        context.Response.Headers.WWWAuthenticate = InternalApiKeyOptions.Scheme;
        return Results.Json(
                new InternalErrorResponse(new InternalError("unauthorized", $"missing or wrong internal API key ('Authorization: {InternalApiKeyOptions.Scheme} <{InternalApiKeyOptions.ConfigurationKey}>')")),
                InternalJson.Options, statusCode: StatusCodes.Status401Unauthorized)
            .ExecuteAsync(context);
    }

    private bool Presents(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        var prefix = InternalApiKeyOptions.Scheme + " ";
        if (!header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header.AsSpan(prefix.Length).Trim().ToString()));
        return CryptographicOperations.FixedTimeEquals(presented, _expected);
    }
}
