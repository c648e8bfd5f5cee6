using System.Diagnostics;
using System.Text.Json;
using Aurous.InferenceWorker.Generation;
using Aurous.Models;
using Xunit.Abstractions;

namespace Aurous.InferenceWorker.Tests.Generation;

[Collection(GenerationCollection.Name)]
public sealed class VideoGenerationTests(GenerationFixture fixture, ITestOutputHelper output)
{
    private Task<GeneratedMedia> VideoAsync(double seconds, long seed = 21, string size = "480p_16_9", GenerationStep? onStep = null,
        CancellationToken cancellationToken = default)
    {
        var s = GenerationSizes.FindVideo(size)!;
        return fixture.Generator.GenerateVideoAsync(new VideoGenerationRequest(GenerationFixture.Motion, "waves rolling onto a beach", null,
            s.Width, s.Height, seed, null, GenerationSizes.VideoFrames(seconds), GenerationSizes.VideoFramesPerSecond),
            onStep ?? GenerationFixture.NoSteps, cancellationToken);
    }

    [Fact]
    public async Task A_video_is_an_h264_yuv420p_mp4_with_its_frames_and_size_and_the_index_first()
    {
        var steps = new List<(int Step, int Total)>();
        var stopwatch = Stopwatch.StartNew();
        var video = await VideoAsync(1, onStep: (step, total, _) =>
        {
            steps.Add((step, total));
            return ValueTask.CompletedTask;
        });
        output.WriteLine($"1 s of 480p_16_9: {stopwatch.ElapsedMilliseconds} ms, {video.Bytes.Length / 1024} KiB");

        video.ContentType.ShouldBe("video/mp4");
        (video.Width, video.Height).ShouldBe((832, 480));
        var probe = Probe(video.Bytes);
        probe.GetProperty("codec_name").GetString().ShouldBe("h264");
        probe.GetProperty("pix_fmt").GetString().ShouldBe("yuv420p");
        probe.GetProperty("width").GetInt32().ShouldBe(832);
        probe.GetProperty("height").GetInt32().ShouldBe(480);
        probe.GetProperty("nb_read_frames").GetString().ShouldBe("12");
        probe.GetProperty("r_frame_rate").GetString().ShouldBe("12/1");
        // +faststart: the index (moov) comes before the media data (mdat), so playback starts while downloading.
        IndexOf(video.Bytes, "moov"u8).ShouldBeLessThan(IndexOf(video.Bytes, "mdat"u8));
        // One callback per denoising step of every frame, counted over the whole video.
        steps.Count.ShouldBeGreaterThan(12);
        (steps.Count % 12).ShouldBe(0);
        steps.Select(s => s.Step).ShouldBe(Enumerable.Range(1, steps.Count));
        steps.ShouldAllBe(s => s.Total == steps.Count);
    }

    [Fact]
    public async Task The_same_video_request_gives_identical_bytes_and_another_seed_does_not()
    {
        var first = await VideoAsync(1, seed: 5, size: "480p_1_1");
        var second = await VideoAsync(1, seed: 5, size: "480p_1_1");
        var other = await VideoAsync(1, seed: 6, size: "480p_1_1");

        second.Bytes.ShouldBe(first.Bytes);
        other.Bytes.ShouldNotBe(first.Bytes);
    }

    [Fact]
    public async Task Cancelling_a_video_between_frames_stops_it()
    {
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        var stepsPerFrame = 0;
        // 4 s = 48 frames; cancelled when the third frame is done.
        await Should.ThrowAsync<OperationCanceledException>(VideoAsync(4, onStep: (_, total, token) =>
        {
            stepsPerFrame = total / 48;
            if (++steps == stepsPerFrame * 3)
            {
                cancel.Cancel();
            }
            token.ThrowIfCancellationRequested();
            return ValueTask.CompletedTask;
        }, cancellationToken: cancel.Token));
        stepsPerFrame.ShouldBeGreaterThan(0);
        steps.ShouldBe(stepsPerFrame * 3);
    }

    private static JsonElement Probe(byte[] mp4)
    {
        var path = Path.Combine(Path.GetTempPath(), $"aurous-probe-{Guid.NewGuid():N}.mp4");
        File.WriteAllBytes(path, mp4);
        try
        {
            var start = new ProcessStartInfo("ffprobe", ["-v", "error", "-select_streams", "v:0", "-count_frames",
                "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames,r_frame_rate", "-of", "json", path])
            {
                RedirectStandardOutput = true,
            };
            using var process = Process.Start(start)!;
            var json = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            process.ExitCode.ShouldBe(0);
            return JsonDocument.Parse(json).RootElement.GetProperty("streams")[0].Clone();
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle)
    {
        var index = haystack.AsSpan().IndexOf(needle);
        index.ShouldBeGreaterThanOrEqualTo(0);
        return index;
    }
}
