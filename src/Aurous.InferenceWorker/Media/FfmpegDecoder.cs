using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Aurous.InferenceWorker.Media;

/// <summary>ffmpeg (or ffprobe) is not installed or cannot be started: a server fault, not the caller's.</summary>
public sealed class MediaDecoderUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// Turns image and video bytes into S x S RGB frames with Debian's ffmpeg, the only decoder available here.
/// <list type="bullet">
/// <item>images: stdin -> first frame -> scale (cover) + centre crop to S x S -> raw rgb24 on stdout;</item>
/// <item>video: written to a private temp file (MP4 may keep its index at the end, which a pipe cannot seek to), frames
/// counted with ffprobe, then at most N evenly spaced frames (indices floor((k + 0.5) * total / N)) selected and
/// converted the same way.</item>
/// </list>
/// Hardening: input protocols limited to the pipe / that one file, demuxers to a list of image and video containers (no
/// playlists, concat or anything that opens other URLs or files), a pixel cap against decompression bombs, a wall-clock
/// timeout per process, kill of the process tree on timeout or cancellation, and a cap on concurrent processes.
/// ffmpeg's own diagnostics (which name its internals and carry heap addresses) go to the log only; callers get a fixed
/// message and a code (<see cref="MediaErrorCodes"/>).
/// </summary>
public sealed partial class FfmpegDecoder : IDisposable
{
    /// <summary>Demuxers ffmpeg may pick (a container's name matches if any of its comma-separated names is listed).</summary>
    public const string FormatWhitelist =
        "mov,matroska,avi,mpegts,mpeg,flv,ogg,gif,apng,asf,h264,hevc,m4v,mjpeg,ivf,image2,png_pipe,jpeg_pipe,webp_pipe,bmp_pipe,tiff_pipe,gif_pipe";

    /// <summary>Largest decoded frame ffmpeg will allocate (pixels).</summary>
    public const long MaxPixels = 64L * 1024 * 1024;

    private readonly MediaOptions _options;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _gate;

    public FfmpegDecoder(MediaOptions options, ILogger<FfmpegDecoder>? log = null)
    {
        _options = options;
        _log = (ILogger?)log ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _gate = new SemaphoreSlim(options.MaxConcurrentDecodes);
    }

    /// <summary>The first frame of an image (or video), <paramref name="size"/> x <paramref name="size"/>, rgb24 row-major.</summary>
    public async Task<byte[]> DecodeImageAsync(byte[] media, int size, CancellationToken cancellationToken)
    {
        var frameBytes = size * size * 3;
        string[] args =
        [
            "-hide_banner", "-nostdin", "-v", "error",
            "-protocol_whitelist", "pipe", "-format_whitelist", FormatWhitelist, "-max_pixels", MaxPixels.ToString(CultureInfo.InvariantCulture),
            "-i", "pipe:0",
            "-frames:v", "1", "-vf", ScaleFilter(size), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
        ];
        var result = await RunAsync(_options.FfmpegPath, args, media, frameBytes, cancellationToken);
        if (result.Stdout.Length != frameBytes)
        {
            throw DecodeFailed(MediaKind.Image, result);
        }
        return result.Stdout;
    }

    /// <summary>At most <paramref name="maxFrames"/> evenly spaced frames of a video (an image gives one), each rgb24 S x S.</summary>
    public async Task<IReadOnlyList<byte[]>> DecodeVideoFramesAsync(byte[] media, int size, int maxFrames, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrames);
        var frameBytes = size * size * 3;
        var path = Path.Combine(Path.GetTempPath(), $"aurous-media-{Guid.NewGuid():N}.bin");
        try
        {
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
            {
                if (!OperatingSystem.IsWindows())
                {
                    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                }
                await file.WriteAsync(media, cancellationToken);
            }

            string[] probeArgs =
            [
                "-hide_banner", "-v", "error",
                "-protocol_whitelist", "file", "-format_whitelist", FormatWhitelist,
                "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0",
                path,
            ];
            var probe = await RunAsync(_options.FfprobePath, probeArgs, null, 4096, cancellationToken);
            var countText = Encoding.ASCII.GetString(probe.Stdout).Trim().Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()?.Trim(' ', ',', '\r');
            if (probe.ExitCode != 0 || !long.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out var total) || total <= 0)
            {
                throw DecodeFailed(MediaKind.Video, probe, probe.ExitCode == 0 ? "it has no video stream" : null);
            }

            var count = (int)Math.Min(maxFrames, total);
            var select = new StringBuilder("select=");
            for (var k = 0; k < count; k++)
            {
                var index = (long)Math.Floor((k + 0.5) * total / count);
                select.Append(k == 0 ? "" : "+").Append(CultureInfo.InvariantCulture, $"eq(n\\,{index})");
            }
            string[] args =
            [
                "-hide_banner", "-nostdin", "-v", "error",
                "-protocol_whitelist", "file", "-format_whitelist", FormatWhitelist, "-max_pixels", MaxPixels.ToString(CultureInfo.InvariantCulture),
                "-i", path,
                "-map", "0:v:0", "-vf", $"{select},{ScaleFilter(size)}", "-fps_mode", "passthrough", "-frames:v", count.ToString(CultureInfo.InvariantCulture),
                "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1",
            ];
            var result = await RunAsync(_options.FfmpegPath, args, null, frameBytes * count, cancellationToken);
            var frames = result.Stdout.Length / frameBytes;
            if (frames == 0 || result.Stdout.Length % frameBytes != 0)
            {
                throw DecodeFailed(MediaKind.Video, result);
            }
            return Enumerable.Range(0, frames).Select(f => result.Stdout.AsSpan(f * frameBytes, frameBytes).ToArray()).ToArray();
        }
        finally
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>CLIP-style: scale so the image covers S x S (keeping its aspect), then crop the centre.</summary>
    private static string ScaleFilter(int size) =>
        string.Create(CultureInfo.InvariantCulture, $"scale={size}:{size}:force_original_aspect_ratio=increase:flags=bicubic,crop={size}:{size}");

    private enum MediaKind { Image, Video }

    /// <summary>
    /// The caller's error for a failed decode: a fixed message by cause (never ffmpeg's text, which names its internals
    /// and heap addresses such as <c>[png @ 0x55c29ba39340]</c>); ffmpeg's diagnostics are logged.
    /// </summary>
    private MediaException DecodeFailed(MediaKind kind, ProcessResult result, string? reason = null)
    {
        var what = kind == MediaKind.Image ? "image" : "video";
        _log.LogWarning("ffmpeg could not decode the {Media} (exit code {ExitCode}): {Diagnostics}", what, result.ExitCode,
            reason ?? (result.Stderr.Length > 0 ? result.Stderr.Trim() : "no frame produced"));
        if (PictureSize().Match(result.Stderr) is { Success: true } size
            && long.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture) * long.Parse(size.Groups[2].Value, CultureInfo.InvariantCulture) > MaxPixels)
        {
            return new MediaException(kind == MediaKind.Image ? MediaErrorCodes.ImageTooLarge : MediaErrorCodes.VideoTooLarge,
                $"the {(kind == MediaKind.Image ? "image" : "video's frames")} {(kind == MediaKind.Image ? "is" : "are")} {size.Groups[1].Value} x {size.Groups[2].Value} pixels; " +
                $"at most {MaxPixels} pixels (e.g. 8192 x 8192) are accepted");
        }
        return new MediaException(MediaErrorCodes.MediaDecodeFailed, kind == MediaKind.Image
            ? "could not decode the image; send a PNG, JPEG, WebP, GIF, BMP or TIFF image"
            : $"could not decode the video{(reason is null ? "" : $" ({reason})")}; send an MP4, WebM, MKV, MOV, AVI or GIF video");
    }

    /// <summary>
    /// ffmpeg's refusal of a frame size: past <c>-max_pixels</c> ("Picture size 9000x9000 exceeds specified max pixel
    /// count") or past what it can address at all ("Picture size 20000x20000 is invalid").
    /// </summary>
    [GeneratedRegex(@"Picture size (\d{1,9})x(\d{1,9}) (?:exceeds specified max pixel count|is invalid)")]
    private static partial Regex PictureSize();

    private sealed record ProcessResult(int ExitCode, byte[] Stdout, string Stderr);

    private async Task<ProcessResult> RunAsync(string executable, IReadOnlyList<string> args, byte[]? stdin, int maxStdout, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.DecodeTimeout);
            var start = new ProcessStartInfo(executable)
            {
                RedirectStandardInput = stdin is not null,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in args)
            {
                start.ArgumentList.Add(arg);
            }
            using var process = new Process { StartInfo = start };
            try
            {
                process.Start();
            }
            catch (Win32Exception ex)
            {
                throw new MediaDecoderUnavailableException($"'{executable}' could not be started ({ex.Message}); install ffmpeg (eng/bootstrap.sh)", ex);
            }
            using var registration = timeout.Token.Register(() => Kill(process));
            var stdinTask = stdin is null ? Task.CompletedTask : WriteStdinAsync(process, stdin);
            var stdoutTask = ReadCappedAsync(process.StandardOutput.BaseStream, maxStdout, () => Kill(process));
            var stderrTask = ReadCappedAsync(process.StandardError.BaseStream, 16 * 1024, null);
            await process.WaitForExitAsync(CancellationToken.None);
            await Task.WhenAll(stdinTask, stdoutTask, stderrTask);
            if (timeout.IsCancellationRequested)
            {
                cancellationToken.ThrowIfCancellationRequested();
                throw new MediaException(MediaErrorCodes.MediaDecodeFailed,
                    $"decoding took longer than {_options.DecodeTimeout.TotalSeconds:0.#} s");
            }
            return new ProcessResult(process.ExitCode, stdoutTask.Result, Encoding.UTF8.GetString(stderrTask.Result));
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async Task WriteStdinAsync(Process process, byte[] input)
    {
        try
        {
            await using var stdin = process.StandardInput.BaseStream;
            await stdin.WriteAsync(input);
        }
        catch (IOException)
        {
            // ffmpeg stops reading once it has what it needs (or gives up on garbage): not an error in itself.
        }
    }

    private static async Task<byte[]> ReadCappedAsync(Stream stream, int max, Action? onOverflow)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[65536];
        int read;
        while ((read = await stream.ReadAsync(chunk)) > 0)
        {
            var keep = (int)Math.Min(read, max - buffer.Length);
            if (keep > 0)
            {
                buffer.Write(chunk, 0, keep);
            }
            if (keep < read)
            {
                onOverflow?.Invoke();
            }
        }
        return buffer.ToArray();
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // already exited
        }
    }

    public void Dispose() => _gate.Dispose();
}
