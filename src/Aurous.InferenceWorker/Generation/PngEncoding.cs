using System.Runtime.InteropServices;
using SkiaSharp;

namespace Aurous.InferenceWorker.Generation;

/// <summary>Generated pixels to PNG with SkiaSharp (deterministic: the same pixels give the same bytes).</summary>
public static class PngEncoding
{
    public const string ContentType = "image/png";

    /// <summary>
    /// Paeth filter and zlib level 2: measured on generated 2048 x 2048 images, 2-3x faster than SkiaSharp's default
    /// (every filter tried per row, level 6) and no larger.
    /// </summary>
    private const SKPngEncoderFilterFlags Filter = SKPngEncoderFilterFlags.Paeth;
    private const int ZLibLevel = 2;

    /// <summary>Encodes opaque RGBA pixels (row-major, 4 bytes each).</summary>
    public static byte[] Encode(byte[] rgba, int width, int height)
    {
        if (rgba.Length != width * height * 4)
        {
            throw new ArgumentException($"{rgba.Length} bytes are not {width} x {height} RGBA pixels");
        }
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        var handle = GCHandle.Alloc(rgba, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, handle.AddrOfPinnedObject(), info.RowBytes);
            using var data = pixmap.Encode(new SKPngEncoderOptions(Filter, ZLibLevel))
                ?? throw new InvalidOperationException("SkiaSharp could not encode the image as PNG");
            return data.ToArray();
        }
        finally
        {
            handle.Free();
        }
    }
}
