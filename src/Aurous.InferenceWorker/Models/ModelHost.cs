using System.Diagnostics;
using Aurous.InferenceWorker.Chat;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Aurous.InferenceWorker.Models;

public enum ModelHostState
{
    Loading,
    Ready,
    Failed,
}

/// <summary>
/// Owns the ONNX Runtime sessions of every model this worker serves. <see cref="Load"/> runs once at start-up (from
/// <see cref="ModelHostLoader"/>): it picks the execution provider, and the loader of each model's kind
/// (<see cref="EmbeddingModelLoader"/>, <see cref="ChatModelLoader"/>) creates its sessions and runs a self-test inference. It never writes model files: a missing one makes its model unavailable, with the reason. Sessions live until the host is disposed.
/// </summary>
public sealed class ModelHost : IDisposable
{
    public const string CpuProvider = "CPUExecutionProvider";
    public const string CudaProvider = "CUDAExecutionProvider";
    public const string TextEncoderRole = "text_encoder";
    public const string ImageEncoderRole = "image_encoder";
    public const string TokenizerRole = "tokenizer";

    private readonly InferenceOptions _options;
    private readonly string _startDirectory;
    private readonly ILogger<ModelHost> _log;
    private readonly Lock _gate = new();
    private volatile ModelHostState _state = ModelHostState.Loading;
    private IReadOnlyList<HostedModel> _models = [];

    public ModelHost(InferenceOptions options, IHostEnvironment environment, ILogger<ModelHost> log)
    {
        _options = options;
        _startDirectory = environment.ContentRootPath;
        _log = log;
    }

    public ModelHostState State => _state;
    public string? FailureReason { get; private set; }
    public RequestedProvider RequestedProvider => _options.ExecutionProvider;
    /// <summary>The provider the sessions run on (null until chosen, or when choosing failed).</summary>
    public string? ExecutionProvider { get; private set; }
    /// <summary>Why CUDA is not used when it was asked for or tried (auto).</summary>
    public string? ProviderNote { get; private set; }
    public string? OnnxRuntimeVersion { get; private set; }
    public IReadOnlyList<string> AvailableProviders { get; private set; } = [];
    public string? ModelsDirectory { get; private set; }
    public DateTimeOffset? ReadyAt { get; private set; }
    public IReadOnlyList<HostedModel> Models => _models;

    /// <summary>A catalog model by id or alias (loaded or not); null when the catalog has no such model.</summary>
    public HostedModel? Find(string idOrAlias)
    {
        foreach (var model in _models)
        {
            if (model.Id == idOrAlias || (model.Manifest?.Aliases.Contains(idOrAlias) ?? false))
            {
                return model;
            }
        }
        return null;
    }

    /// <summary>The loaded text encoder of an embedding model (by id or alias), if this worker serves it.</summary>
    public bool TryGetTextEncoder(string idOrAlias, out TextEncoderModel encoder)
    {
        foreach (var model in _models)
        {
            if (model.TextEncoder is not null && model.Id == idOrAlias)
            {
                encoder = model.TextEncoder;
                return true;
            }
        }
        encoder = null!;
        return false;
    }

    /// <summary>Loads everything once; later calls do nothing. Never throws: failures end up in <see cref="State"/>.</summary>
    public void Load(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_state != ModelHostState.Loading || _models.Count > 0)
            {
                return;
            }
            using var activity = WorkerTelemetry.ActivitySource.StartActivity("models.load_all");
            try
            {
                LoadCore(cancellationToken);
                ReadyAt = DateTimeOffset.UtcNow;
                _state = ModelHostState.Ready;
                activity?.SetTag("aurous.models.loaded", _models.Count(m => m.Status == HostedModelStatus.Loaded));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                FailureReason = ModelLoad.Describe(ex);
                _state = ModelHostState.Failed;
                activity?.SetStatus(ActivityStatusCode.Error, FailureReason);
                _log.LogCritical(ex, "Model host failed to start: {Reason}", FailureReason);
            }
        }
    }

    private void LoadCore(CancellationToken cancellationToken)
    {
        var env = OrtEnv.Instance();
        OnnxRuntimeVersion = env.GetVersionString();
        AvailableProviders = env.GetAvailableProviders();
        _log.LogInformation("ONNX Runtime {Version}; available execution providers: {Providers}",
            OnnxRuntimeVersion, string.Join(", ", AvailableProviders));

        ExecutionProvider = ChooseProvider();
        // Before any session allocates: what a decode step frees is reused by the next, a long prompt's tensors are
        // mapped and unmapped when freed (see NativeHeap).
        if (!NativeHeap.HoldStepMemory())
        {
            _log.LogInformation("The C library does not take glibc's mallopt: freed tensors may stay in the worker's heap");
        }

        ModelsDirectory = ModelCatalog.LocateModelsDirectory(_options.ModelsPath, _startDirectory);
        var catalog = ModelCatalog.Load(ModelsDirectory);

        var sessions = new ModelSessions(_options, _log);
        var embeddings = new EmbeddingModelLoader(sessions, _options, _log);
        var chats = new ChatModelLoader(sessions, _options, _log);
        var models = new List<HostedModel>();
        foreach (var model in catalog.Models)
        {
            cancellationToken.ThrowIfCancellationRequested();
            models.Add(LoadModel(model, embeddings, chats));
        }
        _models = models;
        var loaded = models.Where(m => m.Status == HostedModelStatus.Loaded).Select(m => m.Id).ToArray();
        _log.LogInformation("Model host ready on {Provider}: {Count} model(s) loaded ({Models}) from {Directory}",
            ExecutionProvider, loaded.Length, string.Join(", ", loaded), ModelsDirectory);
    }

    private string ChooseProvider()
    {
        if (_options.ExecutionProvider == RequestedProvider.Cpu)
        {
            _log.LogInformation("Execution provider: {Provider} (requested cpu)", CpuProvider);
            return CpuProvider;
        }
        if (!AvailableProviders.Contains(CudaProvider))
        {
            return CudaUnavailable($"this ONNX Runtime build has no {CudaProvider} (it has: {string.Join(", ", AvailableProviders)})", null);
        }
        try
        {
            using var probe = new SessionOptions();
            probe.AppendExecutionProvider_CUDA(_options.CudaDeviceId);
            _log.LogInformation("Execution provider: {Provider} (device {Device}, requested {Requested})",
                CudaProvider, _options.CudaDeviceId, _options.ExecutionProvider);
            return CudaProvider;
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
        {
            return CudaUnavailable($"{CudaProvider} failed to initialise on device {_options.CudaDeviceId}: {ModelLoad.FirstLine(ex.Message)}", ex);
        }
    }

    private string CudaUnavailable(string reason, Exception? cause)
    {
        if (_options.ExecutionProvider == RequestedProvider.Cuda)
        {
            throw new InvalidOperationException(
                $"Inference:ExecutionProvider is 'cuda' but {reason}. The worker ships ONNX Runtime's CUDA build; the host needs " +
                "CUDA 13, cuDNN and the NVIDIA driver's libcuda, or set Inference:ExecutionProvider to auto or cpu.", cause);
        }
        ProviderNote = $"CUDA not used: {reason}";
        _log.LogInformation("Execution provider: {Provider} (auto; {Reason})", CpuProvider, ProviderNote);
        return CpuProvider;
    }

    /// <summary>One catalog model, by the loader of its kind; kinds this worker does not serve are unavailable, and say why.</summary>
    private HostedModel LoadModel(CatalogModel model, EmbeddingModelLoader embeddings, ChatModelLoader chats)
    {
        var manifest = model.Manifest;
        if (manifest.Files.Count == 0)
        {
            return ModelLoad.Unavailable(manifest, "the manifest declares no model files yet", fault: false);
        }
        return manifest.Kind switch
        {
            ModelKind.Embedding => embeddings.Load(model, ExecutionProvider!, ModelsDirectory!),
            ModelKind.Chat => chats.Load(model, ExecutionProvider!, ModelsDirectory!),
            // Generators are loaded by the media generator (Generation/) and run only by image and video jobs.
            ModelKind.Image or ModelKind.Video => ModelLoad.Unavailable(manifest,
                "generated by image and video jobs, not served on the synchronous endpoints", fault: false),
            _ => ModelLoad.Unavailable(manifest,
                $"models of kind '{manifest.Kind.ToString().ToLowerInvariant()}' are not served by this worker", fault: false),
        };
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var model in _models)
            {
                if (model.Engine is not null)
                {
                    model.Engine.DisposeAsync().AsTask().GetAwaiter().GetResult();
                }
                else
                {
                    model.TextEncoder?.Dispose();
                }
                model.Chat?.Dispose();
            }
            _models = [];
        }
    }
}
