using Aurous.InferenceWorker.Batching;
using Aurous.InferenceWorker.Models;
using Aurous.Models;

namespace Aurous.InferenceWorker.Embeddings;

/// <summary>
/// One loaded embedding model: its text encoder, optional image encoder, the token/visual rules of its manifest, and a
/// dynamic batcher per encoder (concurrent requests' text sequences share one ONNX Runtime run, and so do image frames).
/// </summary>
public sealed class EmbeddingEngine : IAsyncDisposable
{
    public EmbeddingEngine(
        ModelManifest manifest,
        TextEncoderModel textEncoder,
        ImageEncoderModel? imageEncoder,
        int? vocabularySize,
        InferenceOptions options)
    {
        Manifest = manifest;
        TextEncoder = textEncoder;
        ImageEncoder = imageEncoder;
        VocabularySize = vocabularySize;
        Media = manifest.Media ?? new MediaRules();
        var wait = TimeSpan.FromMilliseconds(options.MaxBatchWaitMs);
        var maxBatchTokens = options.MaxBatchTokens;
        TextBatcher = new DynamicBatcher<int[], float[]>(manifest.Id, "text", options.MaxBatchSize, wait,
            batch => RunTextBatch(textEncoder, batch, maxBatchTokens));
        if (imageEncoder is not null)
        {
            ImageBatcher = new DynamicBatcher<float[], float[]>(manifest.Id, "image", options.MaxBatchSize, wait,
                batch => RunImageBatch(imageEncoder, batch));
        }
    }

    public ModelManifest Manifest { get; }
    public string Id => Manifest.Id;
    public TextEncoderModel TextEncoder { get; }
    public ImageEncoderModel? ImageEncoder { get; }
    /// <summary>From the model's tokenizer.json when it has one: token ids must be below it.</summary>
    public int? VocabularySize { get; }
    public MediaRules Media { get; }
    public DynamicBatcher<int[], float[]> TextBatcher { get; }
    public DynamicBatcher<float[], float[]>? ImageBatcher { get; }

    /// <summary>
    /// Runs token sequences through the text encoder: sorted by length and cut into runs whose batch x padded length
    /// stays under <paramref name="maxBatchTokens"/> (a longer sequence runs alone), each padded to its longest
    /// sequence with attention_mask 0. Returns one vector per input, in input order.
    /// </summary>
    public static IReadOnlyList<float[]> RunTextBatch(TextEncoderModel encoder, IReadOnlyList<int[]> sequences, int maxBatchTokens)
    {
        var results = new float[sequences.Count][];
        var order = Enumerable.Range(0, sequences.Count).OrderBy(i => sequences[i].Length).ToArray();
        var start = 0;
        while (start < order.Length)
        {
            var end = start + 1;
            while (end < order.Length && (long)(end - start + 1) * sequences[order[end]].Length <= maxBatchTokens)
            {
                end++;
            }
            var batch = end - start;
            var length = Math.Max(1, sequences[order[end - 1]].Length);
            var ids = new long[batch * length];
            var mask = new long[batch * length];
            for (var row = 0; row < batch; row++)
            {
                var sequence = sequences[order[start + row]];
                for (var t = 0; t < sequence.Length; t++)
                {
                    ids[row * length + t] = sequence[t];
                    mask[row * length + t] = 1;
                }
            }
            var output = encoder.Encode(ids, mask, batch, length);
            var dimension = output.Length / batch;
            for (var row = 0; row < batch; row++)
            {
                results[order[start + row]] = output.AsSpan(row * dimension, dimension).ToArray();
            }
            start = end;
        }
        return results;
    }

    /// <summary>Runs preprocessed frames ([3, S, S] each) through the image encoder in one run.</summary>
    public static IReadOnlyList<float[]> RunImageBatch(ImageEncoderModel encoder, IReadOnlyList<float[]> frames)
    {
        var frameSize = 3 * encoder.ImageSize * encoder.ImageSize;
        var pixels = new float[frames.Count * frameSize];
        for (var i = 0; i < frames.Count; i++)
        {
            frames[i].CopyTo(pixels, i * frameSize);
        }
        var output = encoder.Encode(pixels, frames.Count);
        var dimension = output.Length / frames.Count;
        return Enumerable.Range(0, frames.Count).Select(i => output.AsSpan(i * dimension, dimension).ToArray()).ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await TextBatcher.DisposeAsync();
        if (ImageBatcher is not null)
        {
            await ImageBatcher.DisposeAsync();
        }
        TextEncoder.Dispose();
        ImageEncoder?.Dispose();
    }
}
