using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Embeddings;
using Aurous.Models;
using Aurous.Tokenizers;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// Picks a LoRA for a prompt that names none. A trigger word in the prompt wins (whole words, case-insensitive; the
/// earliest in the prompt, then the LoRA id breaks ties). Otherwise the prompt and each LoRA's "description + trigger
/// words" are embedded with the text tower of <see cref="GenerationOptions.DispatchEmbeddingModel"/> (through the
/// worker's embedding service, so they batch with embedding requests) and the LoRA with the highest cosine
/// similarity wins; a LoRA's vector is computed once and cached. When the embedding model is not available the base
/// model is used alone (null) rather than failing the job.
/// </summary>
public sealed class LoraDispatcher(GenerationModels models, EmbeddingService embeddings, GenerationOptions options, ILogger<LoraDispatcher>? log = null)
    : ILoraDispatcher
{
    private readonly ConcurrentDictionary<string, Task<float[]>> _loraVectors = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _tokenizerGate = new(1, 1);
    private (BpeTokenizer Tokenizer, int Limit)? _tokenizer;

    public async Task<string?> PickAsync(string baseModel, string prompt, CancellationToken cancellationToken)
    {
        var catalog = await models.CatalogAsync(cancellationToken);
        var baseId = catalog.TryResolve(baseModel, out var model) ? model.Manifest.Id : baseModel;
        var candidates = (await models.LorasAsync(cancellationToken)).ForBaseModel(baseId);
        if (candidates.Count == 0)
        {
            return null;
        }
        if (ByTriggerWord(candidates, prompt) is { } triggered)
        {
            return triggered;
        }
        try
        {
            var promptVector = await EmbedAsync(prompt, cancellationToken);
            string? best = null;
            var bestScore = double.NegativeInfinity;
            foreach (var lora in candidates)
            {
                var vector = await _loraVectors.GetOrAdd(lora.Id + "\n" + DescriptionText(lora), _ => EmbedAsync(DescriptionText(lora), CancellationToken.None));
                var score = Cosine(promptVector, vector);
                if (score > bestScore)
                {
                    (best, bestScore) = (lora.Id, score);
                }
            }
            return best;
        }
        catch (EmbeddingRequestException ex)
        {
            log?.LogWarning("LoRA dispatch for {Model} fell back to the base model: embedding model {Embedding} answered {Code}: {Reason}",
                baseId, options.DispatchEmbeddingModel, ex.Code, ex.Message);
            return null;
        }
    }

    /// <summary>The LoRA whose trigger word appears first in <paramref name="prompt"/>, or null.</summary>
    public static string? ByTriggerWord(IReadOnlyList<CatalogLora> loras, string prompt)
    {
        string? best = null;
        var bestAt = int.MaxValue;
        foreach (var lora in loras)
        {
            foreach (var word in lora.Manifest.TriggerWords.Where(w => !string.IsNullOrWhiteSpace(w)))
            {
                var match = Regex.Match(prompt, $@"(?<![\p{{L}}\p{{N}}]){Regex.Escape(word.Trim())}(?![\p{{L}}\p{{N}}])",
                    RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
                if (match.Success && match.Index < bestAt)
                {
                    (best, bestAt) = (lora.Id, match.Index);
                }
            }
        }
        return best;
    }

    public static string DescriptionText(CatalogLora lora) =>
        $"{lora.Manifest.Description} {string.Join(", ", lora.Manifest.TriggerWords)}";

    private async Task<float[]> EmbedAsync(string text, CancellationToken cancellationToken)
    {
        var (tokenizer, limit) = await TokenizerAsync(cancellationToken);
        var ids = tokenizer.Encode(text);
        if (ids.Length == 0)
        {
            return [];
        }
        var response = await embeddings.EmbedAsync(new InternalEmbeddingRequest
        {
            Model = options.DispatchEmbeddingModel,
            Parts = [new InternalEmbeddingPart { Type = EmbeddingService.TextPart, TokenIds = ids.Length <= limit ? ids : ids[..limit] }],
        }, cancellationToken);
        return response.Embedding;
    }

    private async Task<(BpeTokenizer Tokenizer, int Limit)> TokenizerAsync(CancellationToken cancellationToken)
    {
        if (_tokenizer is { } known)
        {
            return known;
        }
        await _tokenizerGate.WaitAsync(cancellationToken);
        try
        {
            if (_tokenizer is null)
            {
                var catalog = await models.CatalogAsync(cancellationToken);
                if (!catalog.TryResolve(options.DispatchEmbeddingModel, out var model) || !model.Manifest.Files.ContainsKey("tokenizer"))
                {
                    throw new EmbeddingRequestException(404, "model_not_found", $"no embedding model '{options.DispatchEmbeddingModel}' with a tokenizer");
                }
                _tokenizer = (BpeTokenizer.Load(model.FilePath("tokenizer")), model.Manifest.ContextWindow);
            }
            return _tokenizer.Value;
        }
        finally
        {
            _tokenizerGate.Release();
        }
    }

    private static double Cosine(float[] a, float[] b)
    {
        if (a.Length == 0 || a.Length != b.Length)
        {
            return double.NegativeInfinity;
        }
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        return na == 0 || nb == 0 ? double.NegativeInfinity : dot / Math.Sqrt(na * nb);
    }
}
