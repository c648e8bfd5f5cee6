using System.Diagnostics;

namespace Aurous.Api.Tests;

/// <summary>Small images and videos made with ffmpeg's own test sources, so no binary fixtures live in the repo.</summary>
public static class TestMedia
{
    private static readonly Lazy<byte[]> PngBytes = new(() => Ffmpeg("-f lavfi -i testsrc=size=64x64 -frames:v 1 -f image2pipe -vcodec png pipe:1"));
    private static readonly Lazy<byte[]> VideoBytes = new(() =>
        Ffmpeg("-f lavfi -i testsrc=size=64x64:rate=10 -t 2 -c:v mpeg4 -f mp4 -movflags frag_keyframe+empty_moov pipe:1"));

    private static readonly Lazy<byte[]> OtherPngBytes = new(() => Ffmpeg("-f lavfi -i smptebars=size=64x64 -frames:v 1 -f image2pipe -vcodec png pipe:1"));

    public static byte[] Png => PngBytes.Value;

    /// <summary>A different picture (colour bars) of the same size.</summary>
    public static byte[] OtherPng => OtherPngBytes.Value;

    public static string PngDataUrl => "data:image/png;base64," + Convert.ToBase64String(PngBytes.Value);

    public static string Mp4DataUrl => "data:video/mp4;base64," + Convert.ToBase64String(VideoBytes.Value);

    private static byte[] Ffmpeg(string args)
    {
        var psi = new ProcessStartInfo("ffmpeg", "-hide_banner -loglevel error " + args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        using var output = new MemoryStream();
        p.StandardOutput.BaseStream.CopyTo(output);
        p.WaitForExit();
        if (p.ExitCode != 0 || output.Length == 0)
        {
            throw new InvalidOperationException("ffmpeg failed: " + p.StandardError.ReadToEnd());
        }
        return output.ToArray();
    }
}
