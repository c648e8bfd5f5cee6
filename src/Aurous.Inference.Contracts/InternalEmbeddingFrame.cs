using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Aurous.Inference.Contracts;

/// <summary>
/// The binary answer of <c>POST /internal/embeddings</c>, sent when the caller's <c>Accept</c> names
/// <see cref="ContentType"/>: the vector travels as its float32 bytes, never as decimal text. The body is a
/// <see cref="HeaderBytes"/>-byte header of six little-endian int32 (dimensions, text tokens, image tokens, video tokens,
/// images, video frames) followed by <c>dimensions</c> little-endian float32. A caller that does not ask for it gets
/// <see cref="InternalEmbeddingResponse"/> as JSON.
/// </summary>
public static class InternalEmbeddingFrame
{
    public const string ContentType = "application/vnd.aurous.embedding";
    public const int HeaderBytes = 6 * sizeof(int);

    /// <summary>The size of the frame of a vector of <paramref name="dimensions"/> floats.</summary>
    public static int Length(int dimensions) => HeaderBytes + dimensions * sizeof(float);

    /// <summary>Writes the frame into <paramref name="destination"/> (at least <see cref="Length"/> bytes).</summary>
    public static void Write(Span<byte> destination, ReadOnlySpan<float> vector, InternalEmbeddingUsage usage)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, vector.Length);
        BinaryPrimitives.WriteInt32LittleEndian(destination[4..], usage.TextTokens);
        BinaryPrimitives.WriteInt32LittleEndian(destination[8..], usage.ImageTokens);
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], usage.VideoTokens);
        BinaryPrimitives.WriteInt32LittleEndian(destination[16..], usage.Images);
        BinaryPrimitives.WriteInt32LittleEndian(destination[20..], usage.VideoFrames);
        var floats = destination.Slice(HeaderBytes, vector.Length * sizeof(float));
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(vector).CopyTo(floats);
            return;
        }
        for (var i = 0; i < vector.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(floats[(i * sizeof(float))..], vector[i]);
        }
    }

    /// <summary>
    /// Reads a frame: its usage and the byte range of the vector (little-endian float32), or <c>false</c> when the bytes
    /// are not one whole frame.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> frame, out InternalEmbeddingUsage usage, out Range vector)
    {
        usage = default!;
        vector = default;
        if (frame.Length < HeaderBytes)
        {
            return false;
        }
        var dimensions = BinaryPrimitives.ReadInt32LittleEndian(frame);
        if (dimensions < 0 || (long)dimensions * sizeof(float) != frame.Length - HeaderBytes)
        {
            return false;
        }
        usage = new InternalEmbeddingUsage(
            BinaryPrimitives.ReadInt32LittleEndian(frame[4..]),
            BinaryPrimitives.ReadInt32LittleEndian(frame[8..]),
            BinaryPrimitives.ReadInt32LittleEndian(frame[12..]),
            BinaryPrimitives.ReadInt32LittleEndian(frame[16..]),
            BinaryPrimitives.ReadInt32LittleEndian(frame[20..]));
        vector = HeaderBytes..frame.Length;
        return true;
    }
}
