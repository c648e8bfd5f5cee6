using System.Collections.Concurrent;
using Aurous.Models;
using Aurous.Tokenizers;

namespace Aurous.Api.Inference;

/// <summary>
/// Each model's own tokenizer (its tokenizer.json), loaded once on first use. The API counts tokens itself, before
/// calling the worker, because the TPM bucket and the credit hold need the count up front.
/// </summary>
public sealed class ModelTokenizers
{
    private readonly ConcurrentDictionary<string, Lazy<BpeTokenizer>> _byModel = new();

    /// <summary>The model's tokenizer, or null when its tokenizer file is not present (the model is not installed).</summary>
    public BpeTokenizer? For(CatalogModel model)
    {
        if (!model.Manifest.Files.TryGetValue("tokenizer", out var file) || !File.Exists(Path.Combine(model.Directory, file)))
        {
            return null;
        }
        return _byModel.GetOrAdd(model.Manifest.Id, _ => new Lazy<BpeTokenizer>(() => BpeTokenizer.Load(Path.Combine(model.Directory, file)))).Value;
    }
}
