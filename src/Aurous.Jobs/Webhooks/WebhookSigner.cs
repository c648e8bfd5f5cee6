using System.Security.Cryptography;
using StandardWebhooks;

namespace Aurous.Jobs.Webhooks;

/// <summary>
/// Standard Webhooks signatures, made by the StandardWebhooks package: <c>v1,&lt;base64 HMAC-SHA256 of
/// "{webhook-id}.{webhook-timestamp}.{body}"&gt;</c>. During a rotation's grace the previous secret signs too, and both
/// signatures go in <c>webhook-signature</c>, separated by a space, so a receiver verifies with either secret.
/// </summary>
public static class WebhookSigner
{
    public const string SecretPrefix = "whsec_";

    /// <summary>A new signing secret: <c>whsec_</c> and 32 random bytes in base64.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <param name="now">The service's clock: it decides whether the rotation's grace is still running.</param>
    /// <param name="timestamp">The webhook-timestamp sent with the attempt.</param>
    public static string Signature(WebhookEndpoint endpoint, string messageId, DateTimeOffset timestamp, string body, DateTimeOffset now)
    {
        var current = new StandardWebhook(endpoint.Secret).Sign(messageId, timestamp, body);
        return endpoint.PreviousSecret is { } previous && endpoint.PreviousSecretUntil > now
            ? current + " " + new StandardWebhook(previous).Sign(messageId, timestamp, body)
            : current;
    }
}
