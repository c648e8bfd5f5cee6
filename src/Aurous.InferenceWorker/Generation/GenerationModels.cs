using System.Collections.Concurrent;
using Aurous.InferenceWorker.Models;
using Aurous.Models;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// The generators' models and LoRAs: the model and LoRA catalogs of the worker's models folder, and each diffusion
/// model loaded on first use (its three sessions), then kept. In the worker it waits for the model host, which finds
/// the models folder and picks the execution provider; the forge and tests give a folder and sessions directly.
/// </summary>
public sealed class GenerationModels : IDisposable
{
    private readonly Func<CancellationToken, Task<(string Directory, GenerationSessions Sessions)>> _locate;
    private readonly ConcurrentDictionary<string, Lazy<DiffusionModel>> _models = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _initGate = new(1, 1);
    private volatile State? _state;

    private sealed record State(ModelCatalog Catalog, LoraCatalog Loras, GenerationSessions Sessions);

    public GenerationModels(string modelsDirectory, GenerationSessions sessions) =>
        _locate = _ => Task.FromResult((modelsDirectory, sessions));

    /// <summary>The worker's: waits until <paramref name="host"/> has loaded, then uses its folder and provider.</summary>
    public GenerationModels(ModelHost host, InferenceOptions inference, GenerationOptions options) =>
        _locate = async cancellationToken =>
        {
            while (host.State == ModelHostState.Loading)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
            if (host.State == ModelHostState.Failed || host.ModelsDirectory is null || host.ExecutionProvider is null)
            {
                throw new InvalidOperationException($"the worker's models failed to load: {host.FailureReason}");
            }
            return (host.ModelsDirectory, new GenerationSessions(host.ExecutionProvider, options, inference.CudaDeviceId));
        };

    public async Task<ModelCatalog> CatalogAsync(CancellationToken cancellationToken) => (await StateAsync(cancellationToken)).Catalog;

    public async Task<LoraCatalog> LorasAsync(CancellationToken cancellationToken) => (await StateAsync(cancellationToken)).Loras;

    /// <summary>The image or video model <paramref name="idOrAlias"/>, loaded once.</summary>
    public async Task<DiffusionModel> ModelAsync(string idOrAlias, CancellationToken cancellationToken)
    {
        var state = await StateAsync(cancellationToken);
        if (!state.Catalog.TryResolve(idOrAlias, out var model))
        {
            throw new ArgumentException($"there is no model '{idOrAlias}'");
        }
        if (model.Manifest.Kind is not (ModelKind.Image or ModelKind.Video))
        {
            throw new ArgumentException($"model '{model.Manifest.Id}' is not an image or video generator");
        }
        var lazy = _models.GetOrAdd(model.Manifest.Id, _ => new Lazy<DiffusionModel>(() => DiffusionModel.Load(model, state.Sessions)));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // A failed load (e.g. the forge had not run yet) is retried by the next request.
            _models.TryRemove(new KeyValuePair<string, Lazy<DiffusionModel>>(model.Manifest.Id, lazy));
            throw;
        }
    }

    private async Task<State> StateAsync(CancellationToken cancellationToken)
    {
        if (_state is { } state)
        {
            return state;
        }
        await _initGate.WaitAsync(cancellationToken);
        try
        {
            if (_state is null)
            {
                var (directory, sessions) = await _locate(cancellationToken);
                var catalog = ModelCatalog.Load(directory);
                _state = new State(catalog, LoraCatalog.Load(directory, catalog), sessions);
            }
            return _state;
        }
        finally
        {
            _initGate.Release();
        }
    }

    public void Dispose()
    {
        foreach (var model in _models.Values.Where(m => m.IsValueCreated))
        {
            model.Value.Dispose();
        }
        _initGate.Dispose();
    }
}
