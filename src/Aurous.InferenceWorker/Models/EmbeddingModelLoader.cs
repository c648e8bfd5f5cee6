using Aurous.InferenceWorker.Embeddings;
using Aurous.Models;
using Aurous.Tokenizers;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// An embedding model: its <c>text_encoder</c> session, an optional <c>image_encoder</c> session on the same provider,
/// the optional tokenizer's vocabulary size, and a self-test of each encoder, so a broken model fails at start-up.
/// </summary>
internal sealed class EmbeddingModelLoader(ModelSessions sessions, InferenceOptions options, ILogger log)
    : ModelKindLoader(ModelHost.TextEncoderRole, "an embedding model")
{
    protected override HostedModel Load(ModelLoad load, CatalogModel model, string path, string provider)
    {
        var manifest = model.Manifest;
        InferenceSession? session = null;
        InferenceSession? imageSession = null;
        TextEncoderModel? textEncoder = null;
        var file = Path.GetFileName(path);
        try
        {
            session = sessions.CreateOrFallBack(path, manifest.Id, ref provider);
            var encoder = textEncoder = TextEncoderModel.Create(session);
            session = null; // owned by the encoder from here on
            SelfTest(encoder);

            ImageEncoderModel? imageEncoder = null;
            if (manifest.Files.ContainsKey(ModelHost.ImageEncoderRole))
            {
                var imagePath = model.FilePath(ModelHost.ImageEncoderRole);
                file = Path.GetFileName(imagePath);
                if (!File.Exists(imagePath))
                {
                    throw new InvalidDataException($"file '{imagePath}' is missing");
                }
                imageSession = sessions.Create(imagePath, manifest.Id, provider);
                imageEncoder = ImageEncoderModel.Create(imageSession);
                imageSession = null; // owned by the image encoder from here on
                try
                {
                    SelfTest(imageEncoder);
                }
                catch
                {
                    imageEncoder.Dispose();
                    throw;
                }
            }

            int? vocabularySize = null;
            if (manifest.Files.ContainsKey(ModelHost.TokenizerRole))
            {
                var tokenizerPath = model.FilePath(ModelHost.TokenizerRole);
                file = Path.GetFileName(tokenizerPath);
                vocabularySize = File.Exists(tokenizerPath)
                    ? BpeTokenizer.Load(tokenizerPath).VocabSize
                    : throw new InvalidDataException($"file '{tokenizerPath}' is missing");
            }
            file = Path.GetFileName(path);
            var engine = new EmbeddingEngine(manifest, encoder, imageEncoder, vocabularySize, options);
            var elapsed = load.Succeeded(provider);
            log.LogInformation("Loaded model {ModelId} ({Files}) on {Provider} in {ElapsedMs:F0} ms; output dimension {Dimension}; batching up to {MaxBatch} items, {MaxWait} ms",
                manifest.Id, string.Join(", ", manifest.Files.Values), provider, elapsed, encoder.Dimension, options.MaxBatchSize, options.MaxBatchWaitMs);
            return load.Loaded(provider, elapsed, encoder.Session, engine: engine, textEncoder: encoder);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidDataException or ArgumentException or IOException)
        {
            session?.Dispose();
            imageSession?.Dispose();
            textEncoder?.Dispose();
            return load.Failed(ex, $"failed to load '{file}': {ModelLoad.Describe(ex)}", log);
        }
    }

    /// <summary>One real inference (two rows, one padded) so a broken model fails at start-up, not on the first request.</summary>
    private static void SelfTest(TextEncoderModel encoder)
    {
        long[] ids = [464, 3290, 318, 11, 464, 3290, 0, 0];
        long[] mask = [1, 1, 1, 1, 1, 1, 0, 0];
        var output = encoder.Encode(ids, mask, batch: 2, sequence: 4);
        var dimension = encoder.Dimension ?? throw new InvalidDataException("self-test produced no output dimension");
        for (var row = 0; row < 2; row++)
        {
            var vector = output.AsSpan(row * dimension, dimension);
            double sum = 0;
            foreach (var v in vector)
            {
                if (!float.IsFinite(v))
                {
                    throw new InvalidDataException("self-test produced a non-finite value");
                }
                sum += (double)v * v;
            }
            if (sum == 0)
            {
                throw new InvalidDataException("self-test produced an all-zero embedding");
            }
        }
    }

    /// <summary>One real image inference (mid-grey) so a broken image encoder fails at start-up.</summary>
    private static void SelfTest(ImageEncoderModel encoder)
    {
        var rgb = new byte[encoder.ImageSize * encoder.ImageSize * 3];
        Array.Fill(rgb, (byte)128);
        var output = encoder.Encode(encoder.Preprocess(rgb), batch: 1);
        if (output.Any(v => !float.IsFinite(v)) || output.All(v => v == 0))
        {
            throw new InvalidDataException("image encoder self-test produced a non-finite or all-zero embedding");
        }
        if (encoder.Dimension is { } image && image != output.Length)
        {
            throw new InvalidDataException($"image encoder output dimension {output.Length} differs from its declared {image}");
        }
    }
}
