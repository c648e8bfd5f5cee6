using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Aurous.Accounts;
using Aurous.Jobs;
using Aurous.Testing;
using Azure.Storage.Blobs;

namespace Aurous.Api.Tests.Jobs;

/// <summary>
/// Its own system: these tests move the API's clock by days, which the shared API fixture's other tests (grace
/// windows, leases) must not see.
/// </summary>
public sealed class OutputsFixture : IAsyncLifetime
{
    public AurousTestApp System { get; private set; } = null!;

    public async Task InitializeAsync() => System = await AurousTestApp.StartAsync(only: ["api"]);

    public async Task DisposeAsync() => await System.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class OutputsCollection : ICollectionFixture<OutputsFixture>
{
    public const string Name = "outputs";
}

/// <summary>GET and HEAD /v1/outputs/{token}: anonymous, ranged, and gone after expiry by the API's clock.</summary>
[Collection(OutputsCollection.Name)]
public sealed class OutputsTests(OutputsFixture fixture)
{
    [Fact]
    public async Task An_output_is_served_without_a_key_with_ranges_and_is_gone_with_410_once_the_api_clock_passes_its_expiry()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 1m);
        var bytes = Enumerable.Range(0, 100_000).Select(i => (byte)(i * 7)).ToArray();
        var (job, output) = await SucceededJobAsync(teamId, bytes, "image/png", TimeSpan.FromDays(7));
        using var authed = fixture.System.CreateApiClient(key);
        var row = JsonDocument.Parse(await authed.GetStringAsync("/v1/images/" + job.Id)).RootElement;
        row.GetProperty("status").GetString().ShouldBe("succeeded");
        var url = new Uri(row.GetProperty("output_urls")[0].GetString()!);
        url.AbsolutePath.ShouldBe("/v1/outputs/" + output.Token);
        using var anonymous = fixture.System.CreateApiClient();

        using (var whole = await anonymous.GetAsync(url.PathAndQuery))
        {
            whole.StatusCode.ShouldBe(HttpStatusCode.OK);
            whole.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
            whole.Content.Headers.ContentLength.ShouldBe(bytes.Length);
            whole.Headers.AcceptRanges.ShouldContain("bytes");
            (await whole.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);
        }
        using (var ranged = await SendAsync(anonymous, HttpMethod.Get, url, new RangeHeaderValue(1000, 1999)))
        {
            ranged.StatusCode.ShouldBe(HttpStatusCode.PartialContent);
            ranged.Content.Headers.ContentRange!.ToString().ShouldBe($"bytes 1000-1999/{bytes.Length}");
            ranged.Content.Headers.ContentLength.ShouldBe(1000);
            (await ranged.Content.ReadAsByteArrayAsync()).ShouldBe(bytes[1000..2000]);
        }
        using (var tail = await SendAsync(anonymous, HttpMethod.Get, url, new RangeHeaderValue(null, 10)))
        {
            tail.StatusCode.ShouldBe(HttpStatusCode.PartialContent);
            (await tail.Content.ReadAsByteArrayAsync()).ShouldBe(bytes[^10..]);
        }
        using (var outside = await SendAsync(anonymous, HttpMethod.Get, url, new RangeHeaderValue(bytes.Length + 10, null)))
        {
            await outside.ShouldBeErrorAsync(416, "invalid_request", "range_not_satisfiable");
            outside.Content.Headers.ContentRange!.ToString().ShouldBe($"bytes */{bytes.Length}");
        }
        using (var head = await SendAsync(anonymous, HttpMethod.Head, url, null))
        {
            head.StatusCode.ShouldBe(HttpStatusCode.OK);
            head.Content.Headers.ContentLength.ShouldBe(bytes.Length);
            head.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
            (await head.Content.ReadAsByteArrayAsync()).Length.ShouldBe(0);
        }
        await (await anonymous.GetAsync("/v1/outputs/" + new string('A', 43))).ShouldBeErrorAsync(404, "invalid_request", "output_not_found");
        await (await anonymous.GetAsync("/v1/outputs/short")).ShouldBeErrorAsync(404, "invalid_request", "output_not_found");

        // Just before expiry it is still served; once the API's clock passes it, 410, though the blob still exists.
        await fixture.System.AdvanceClockAsync(TimeSpan.FromDays(7) - TimeSpan.FromMinutes(5), "api");
        (await anonymous.GetAsync(url.PathAndQuery)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await fixture.System.AdvanceClockAsync(TimeSpan.FromMinutes(10), "api");
        await (await anonymous.GetAsync(url.PathAndQuery)).ShouldBeErrorAsync(410, "invalid_request", "output_expired");
        (await SendAsync(anonymous, HttpMethod.Head, url, null)).StatusCode.ShouldBe(HttpStatusCode.Gone);
        var expired = JsonDocument.Parse(await authed.GetStringAsync("/v1/images/" + job.Id)).RootElement;
        expired.GetProperty("status").GetString().ShouldBe("succeeded");
        expired.GetProperty("output_urls").GetArrayLength().ShouldBe(0, "expired outputs are no longer linked");
    }

    [Fact]
    public async Task A_video_output_streams_as_mp4()
    {
        var (teamId, _) = await fixture.System.CreateTeamAsync(credits: 1m);
        var bytes = Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray();
        var (_, output) = await SucceededJobAsync(teamId, bytes, "video/mp4", TimeSpan.FromDays(30));
        using var anonymous = fixture.System.CreateApiClient();

        using var response = await SendAsync(anonymous, HttpMethod.Get, new Uri(fixture.System.Endpoint("api"), "/v1/outputs/" + output.Token), new RangeHeaderValue(0, 99));

        response.StatusCode.ShouldBe(HttpStatusCode.PartialContent);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("video/mp4");
        (await response.Content.ReadAsByteArrayAsync()).ShouldBe(bytes[..100]);
    }

    /// <summary>A job taken through the runner's steps directly (the output written through OutputBlobs and JobStore).</summary>
    private async Task<(JobRow Job, JobOutput Output)> SucceededJobAsync(string teamId, byte[] bytes, string contentType, TimeSpan keptFor)
    {
        var db = fixture.System.Database;
        var store = new JobStore(db, new CreditHolds(db), TimeProvider.System);
        var job = await ImagesApiTests.PendingJobAsync(db, store, teamId, 0.01m);
        await store.StartAsync(job.Id, default);
        var blobName = OutputBlobs.BlobName(job.Id, 0, contentType);
        await new OutputBlobs(new BlobServiceClient(fixture.System.ConnectionString("blobs"))).UploadAsync(blobName, bytes, contentType, default);
        var expires = DateTimeOffset.UtcNow + keptFor;
        var output = await store.SaveOutputAsync(job.Id, 0, blobName, contentType, bytes.Length, 1024, 1024, expires, default);
        (await store.SucceedAsync(job.Id, expires, default)).ShouldBeTrue();
        return ((await store.GetByIdAsync(job.Id, default))!, output);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, Uri url, RangeHeaderValue? range)
    {
        using var request = new HttpRequestMessage(method, url.PathAndQuery);
        request.Headers.Range = range;
        return await client.SendAsync(request);
    }
}
