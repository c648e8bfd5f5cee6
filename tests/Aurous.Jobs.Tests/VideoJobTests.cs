using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Aurous.Testing;

namespace Aurous.Jobs.Tests;

/// <summary>A video job to an MP4 that a player can seek in (Range requests), decoded by ffprobe.</summary>
[Collection(JobsCollection.Name)]
public sealed class VideoJobTests(JobsSystem fixture)
{
    [Fact]
    public async Task A_video_job_makes_an_h264_mp4_of_its_size_and_frames_served_with_range_requests()
    {
        var system = fixture.System;
        var (teamId, key) = await system.CreateTeamAsync();
        using var api = system.CreateApiClient(key);
        var created = await JobClient.CreateAsync(api, "videos", new Dictionary<string, object?>
        {
            ["model"] = "aurous-motion-1.0", ["prompt"] = "Waves rolling onto a beach", ["size"] = "480p_1_1", ["duration_seconds"] = 1, ["seed"] = 7,
        });
        var id = created.GetProperty("id").GetString()!;
        id.ShouldStartWith("vid_");

        var job = await JobClient.WaitAsync(api, id, TimeSpan.FromMinutes(4));
        job.Status().ShouldBe("succeeded", job.ToString());
        var url = job.OutputUrls().ShouldHaveSingleItem();

        using var anonymous = new HttpClient();
        var whole = await anonymous.GetByteArrayAsync(url);
        using (var request = new HttpRequestMessage(HttpMethod.Get, url))
        {
            request.Headers.Range = new RangeHeaderValue(100, 199);
            using var partial = await anonymous.SendAsync(request);
            partial.StatusCode.ShouldBe(HttpStatusCode.PartialContent);
            partial.Content.Headers.ContentType!.MediaType.ShouldBe("video/mp4");
            partial.Content.Headers.ContentRange!.ToString().ShouldBe($"bytes 100-199/{whole.Length}");
            (await partial.Content.ReadAsByteArrayAsync()).ShouldBe(whole[100..200]);
        }

        var probe = await ProbeAsync(whole);
        var stream = probe.GetProperty("streams")[0];
        stream.GetProperty("codec_name").GetString().ShouldBe("h264");
        stream.GetProperty("width").GetInt32().ShouldBe(512);
        stream.GetProperty("height").GetInt32().ShouldBe(512);
        int.Parse(stream.GetProperty("nb_read_frames").GetString()!).ShouldBe(12);

        // 12 frames x 16 x 16 tiles = 3,072 tokens at 2 credits per 1M.
        job.GetProperty("usage").GetProperty("credits_charged").GetDecimal().ShouldBe(0.006144m);
        (await LedgerAudit.SettledAsync(system.Database, teamId)).Receipts.ShouldBe(1);
    }

    private static async Task<JsonElement> ProbeAsync(byte[] mp4)
    {
        var path = Path.Combine(Path.GetTempPath(), $"aurous-video-{Guid.NewGuid():N}.mp4");
        await File.WriteAllBytesAsync(path, mp4);
        try
        {
            var psi = new ProcessStartInfo("ffprobe",
                $"-v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames -of json \"{path}\"")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var ffprobe = Process.Start(psi)!;
            var output = await ffprobe.StandardOutput.ReadToEndAsync();
            await ffprobe.WaitForExitAsync();
            ffprobe.ExitCode.ShouldBe(0, await ffprobe.StandardError.ReadToEndAsync());
            return JsonSerializer.Deserialize<JsonElement>(output);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
