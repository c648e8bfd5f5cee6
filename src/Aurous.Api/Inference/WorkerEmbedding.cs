using System.Runtime.InteropServices;
using Aurous.Inference.Contracts;

namespace Aurous.Api.Inference;

/// <summary>The worker's embedding: its usage and the vector as little-endian float32 bytes, as they arrived.</summary>
public sealed record WorkerEmbedding(InternalEmbeddingUsage Usage, ReadOnlyMemory<byte> Vector)
{
    public int Dimensions => Vector.Length / sizeof(float);

    /// <summary>The vector as floats (a view of the bytes on little-endian machines, a converted copy elsewhere).</summary>
    public ReadOnlySpan<float> Floats() => BitConverter.IsLittleEndian
        ? MemoryMarshal.Cast<byte, float>(Vector.Span)
        : ToFloatsBigEndian(Vector.Span);

    /// <summary>Whether every element is a finite number (JSON can carry no other).</summary>
    public bool AllFinite()
    {
        foreach (var v in Floats())
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A JSON answer (<see cref="InternalEmbeddingResponse"/>) in the same shape.</summary>
    public static WorkerEmbedding From(InternalEmbeddingResponse response)
    {
        var bytes = new byte[InternalEmbeddingFrame.Length(response.Embedding.Length)];
        InternalEmbeddingFrame.Write(bytes, response.Embedding, response.Usage);
        return new WorkerEmbedding(response.Usage, bytes.AsMemory(InternalEmbeddingFrame.HeaderBytes));
    }

    private static float[] ToFloatsBigEndian(ReadOnlySpan<byte> bytes)
    {
        var floats = new float[bytes.Length / sizeof(float)];
        for (var i = 0; i < floats.Length; i++)
        {
            floats[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * sizeof(float))..]);
        }
        return floats;
    }
}
