using System.Buffers.Binary;
using Aurous.InferenceWorker.Media;
using Microsoft.Extensions.Logging;

namespace Aurous.InferenceWorker.Tests;

/// <summary>Decoder failures reach callers as a fixed message and a stable code; ffmpeg's own text goes to the log only.</summary>
public sealed class MediaErrorTests
{
    /// <summary>A real PNG whose header claims another size: ffmpeg refuses it on the header, before decoding a pixel.</summary>
    private static byte[] PngClaiming(int width, int height)
    {
        var png = TestMedia.Png();
        // Signature (8) + chunk length (4) + "IHDR" (4), then width and height, big-endian. ffmpeg skips chunk CRCs by default.
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(16), width);
        BinaryPrimitives.WriteInt32BigEndian(png.AsSpan(20), height);
        return png;
    }

    [Theory]
    [InlineData(9_000, 9_000)]   // past -max_pixels: "exceeds specified max pixel count"
    [InlineData(20_000, 20_000)] // past what ffmpeg addresses at all: "is invalid"
    public async Task An_image_past_the_pixel_cap_is_image_too_large_with_a_clean_message(int width, int height)
    {
        var log = new ListLogger();
        using var decoder = new FfmpegDecoder(new MediaOptions(), log);

        var error = await Should.ThrowAsync<MediaException>(() => decoder.DecodeImageAsync(PngClaiming(width, height), 32, CancellationToken.None));

        error.Code.ShouldBe(MediaErrorCodes.ImageTooLarge);
        error.Message.ShouldBe($"the image is {width} x {height} pixels; at most {FfmpegDecoder.MaxPixels} pixels (e.g. 8192 x 8192) are accepted");
        // ffmpeg's diagnostics, heap addresses and all, are in the log for operators.
        log.Lines.ShouldContain(l => l.Contains($"Picture size {width}x{height}") && l.Contains("@ 0x"));
    }

    [Fact]
    public async Task Undecodable_bytes_never_carry_decoder_internals()
    {
        var log = new ListLogger();
        using var decoder = new FfmpegDecoder(new MediaOptions(), log);
        var garbage = Enumerable.Range(0, 3000).Select(i => (byte)(i * 31 % 256)).ToArray();
        byte[] truncatedPng = [.. TestMedia.Png().Take(60)];

        foreach (var bytes in new[] { garbage, truncatedPng })
        {
            var image = await Should.ThrowAsync<MediaException>(() => decoder.DecodeImageAsync(bytes, 32, CancellationToken.None));
            image.Code.ShouldBe(MediaErrorCodes.MediaDecodeFailed);
            image.Message.ShouldBe("could not decode the image; send a PNG, JPEG, WebP, GIF, BMP or TIFF image");

            var video = await Should.ThrowAsync<MediaException>(() => decoder.DecodeVideoFramesAsync(bytes, 32, 4, CancellationToken.None));
            video.Code.ShouldBe(MediaErrorCodes.MediaDecodeFailed);
            video.Message.ShouldStartWith("could not decode the video");
            video.Message.ShouldNotContain("0x");
            video.Message.ShouldNotContain("@");
            video.Message.ShouldNotContain("aurous-media-");
        }
        log.Lines.ShouldNotBeEmpty();
    }

    private sealed class ListLogger : ILogger<FfmpegDecoder>
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add(formatter(state, exception));
            }
        }
    }
}
