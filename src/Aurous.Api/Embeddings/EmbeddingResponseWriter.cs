using System.Buffers;
using Aurous.Api.Inference;
using Aurous.Api.Metering;

namespace Aurous.Api.Embeddings;

/// <summary>
/// Writes the OpenAI embedding list shape with our usage block. The vector's numbers are formatted straight from the
/// worker's float32 bytes (the shortest text that reads back as the same float, byte for byte as the runtime writes it:
/// <see cref="ShortestFloatText"/>), with no float array or string between.
/// </summary>
public static class EmbeddingResponseWriter
{
    // The longest shortest-round-trip float32 text ("-1.1754944E-38") is 14 bytes; one more for the comma.
    private const int MaxBytesPerFloat = ShortestFloatText.MaxLength + 1;

    public static byte[] Render(string model, WorkerEmbedding? embedding, UsageBlock usage)
    {
        var buffer = new ArrayBufferWriter<byte>(embedding is null ? 512 : embedding.Dimensions * MaxBytesPerFloat + 512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("object", "list");
            w.WriteStartArray("data");
            w.WriteStartObject();
            w.WriteString("object", "embedding");
            w.WriteNumber("index", 0);
            if (embedding is not null)
            {
                w.WritePropertyName("embedding");
                WriteVector(w, embedding.Floats());
            }
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteString("model", model);
            w.WritePropertyName("usage");
            JsonSerializer.Serialize(w, usage);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The vector as a JSON array of numbers. Every value must be finite (JSON has no NaN or infinity).</summary>
    public static void WriteVector(Utf8JsonWriter writer, ReadOnlySpan<float> vector)
    {
        var rented = ArrayPool<byte>.Shared.Rent(vector.Length * MaxBytesPerFloat + 2);
        try
        {
            var span = rented.AsSpan();
            var at = 0;
            span[at++] = (byte)'[';
            for (var i = 0; i < vector.Length; i++)
            {
                if (i > 0)
                {
                    span[at++] = (byte)',';
                }
                if (!float.IsFinite(vector[i]) || !ShortestFloatText.TryFormat(vector[i], span[at..], out var written))
                {
                    throw new ArgumentException($"Element {i} of the vector ({vector[i]}) cannot be written as a JSON number.", nameof(vector));
                }
                at += written;
            }
            span[at++] = (byte)']';
            writer.WriteRawValue(span[..at], skipInputValidation: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
