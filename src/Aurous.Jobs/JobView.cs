namespace Aurous.Jobs;

/// <summary>
/// The job object as <c>GET /v1/images/{id}</c> (and <c>/v1/videos/{id}</c>) returns it, and as webhook events carry
/// it: one renderer, so the two never differ. Output URLs are built on <paramref name="publicBaseUrl"/> (the API's
/// public address, <c>Outputs:PublicBaseUrl</c>), so the worker renders the same URLs as the API.
/// </summary>
public static class JobView
{
    public static byte[] Render(JobRow job, Uri publicBaseUrl, DateTimeOffset now) => throw new NotImplementedException();

    /// <summary>The public URL of one output: <c>{publicBaseUrl}/v1/outputs/{token}</c>.</summary>
    public static Uri OutputUrl(Uri publicBaseUrl, string token) => new(publicBaseUrl, "/v1/outputs/" + token);
}
