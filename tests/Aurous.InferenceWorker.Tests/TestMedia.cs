using System.Diagnostics;

namespace Aurous.InferenceWorker.Tests;

/// <summary>Images and videos made on the fly with ffmpeg's lavfi test sources (no binary fixtures).</summary>
public static class TestMedia
{
    public static byte[] Png(int width = 64, int height = 48, string source = "testsrc") =>
        Make($"{source}=size={width}x{height}", ["-frames:v", "1"], "png");

    /// <summary>An MPEG-4 part 2 video in MP4 (index at the end, as most cameras write it).</summary>
    public static byte[] Mp4(double seconds = 2, int fps = 10) =>
        Make($"testsrc=size=160x120:rate={fps}:duration={seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}", ["-c:v", "mpeg4", "-pix_fmt", "yuv420p"], "mp4");

    public static byte[] Webm(double seconds = 1, int fps = 10) =>
        Make($"testsrc2=size=160x120:rate={fps}:duration={seconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}", ["-c:v", "libvpx", "-b:v", "200k"], "webm");

    public static string DataUrl(string mediaType, byte[] bytes) => $"data:{mediaType};base64,{Convert.ToBase64String(bytes)}";

    private static byte[] Make(string lavfi, string[] output, string extension)
    {
        var path = Path.Combine(Path.GetTempPath(), $"aurous-test-media-{Guid.NewGuid():N}.{extension}");
        try
        {
            var start = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var arg in (string[])["-hide_banner", "-nostdin", "-v", "error", "-f", "lavfi", "-i", lavfi, .. output, "-y", path])
            {
                start.ArgumentList.Add(arg);
            }
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            process.ExitCode.ShouldBe(0, $"ffmpeg failed: {error}");
            return File.ReadAllBytes(path);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
