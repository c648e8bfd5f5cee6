using System.Diagnostics;
using System.Globalization;
using Aurous.InferenceWorker.Media;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// Encodes generated frames to MP4 (H.264, yuv420p, <c>+faststart</c> so players can start before the whole file has
/// arrived) with ffmpeg's libx264. Frames are streamed to ffmpeg's stdin as raw RGBA while they are generated; the MP4
/// goes to a private temp file (moving the index to the front needs a seekable output) and is read back at the end.
/// Disposing before <see cref="FinishAsync"/> kills ffmpeg and deletes the file.
/// </summary>
public sealed class Mp4Encoder : IAsyncDisposable
{
    public const string ContentType = "video/mp4";

    private readonly Process _process;
    private readonly string _path;
    private readonly Task<string> _stderr;
    private readonly int _frameBytes;
    private bool _finished;

    private Mp4Encoder(Process process, string path, int frameBytes)
    {
        _process = process;
        _path = path;
        _frameBytes = frameBytes;
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public static Mp4Encoder Start(MediaOptions media, int width, int height, int framesPerSecond, int crf)
    {
        var path = Path.Combine(Path.GetTempPath(), $"aurous-video-{Guid.NewGuid():N}.mp4");
        var start = new ProcessStartInfo(media.FfmpegPath)
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            RedirectStandardOutput = false,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "-hide_banner", "-v", "error",
            "-f", "rawvideo", "-pix_fmt", "rgba", "-s", $"{width}x{height}",
            "-framerate", framesPerSecond.ToString(CultureInfo.InvariantCulture), "-i", "pipe:0",
            "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", crf.ToString(CultureInfo.InvariantCulture),
            "-pix_fmt", "yuv420p", "-movflags", "+faststart",
            // No encoder version or creation time in the file: the same frames give the same bytes.
            "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
            "-f", "mp4", "-y", path,
        })
        {
            start.ArgumentList.Add(arg);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("ffmpeg did not start");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new MediaDecoderUnavailableException($"ffmpeg ('{media.FfmpegPath}') could not be started: {ex.Message}", ex);
        }
        return new Mp4Encoder(process, path, width * height * 4);
    }

    public async Task WriteFrameAsync(byte[] rgba, CancellationToken cancellationToken)
    {
        if (rgba.Length != _frameBytes)
        {
            throw new ArgumentException($"a frame must be {_frameBytes} bytes of RGBA, not {rgba.Length}");
        }
        try
        {
            await _process.StandardInput.BaseStream.WriteAsync(rgba, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new InvalidOperationException($"ffmpeg stopped taking frames: {await StderrAsync()}", ex);
        }
    }

    /// <summary>Closes the input, waits for ffmpeg and returns the MP4.</summary>
    public async Task<byte[]> FinishAsync(CancellationToken cancellationToken)
    {
        await _process.StandardInput.BaseStream.FlushAsync(cancellationToken);
        _process.StandardInput.Close();
        await _process.WaitForExitAsync(cancellationToken);
        _finished = true;
        if (_process.ExitCode != 0)
        {
            throw new InvalidOperationException($"ffmpeg failed to encode the video (exit code {_process.ExitCode}): {await StderrAsync()}");
        }
        return await File.ReadAllBytesAsync(_path, cancellationToken);
    }

    private async Task<string> StderrAsync()
    {
        var text = await _stderr.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        return text.Trim() is { Length: > 0 } t ? t : "no diagnostics";
    }

    public async ValueTask DisposeAsync()
    {
        if (!_finished && !_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try
        {
            File.Delete(_path);
        }
        catch (IOException)
        {
        }
    }
}
