using System.Diagnostics;
using Aurous.InferenceWorker.Chat;
using Aurous.InferenceWorker.Embeddings;
using Aurous.Tokenizers;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
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
/// <see cref="ModelHostLoader"/>): it picks the execution provider, creates one session per runnable model and runs a
/// self-test inference on each. It never writes model files: a missing one makes its model unavailable, with the reason. Sessions live until the host is disposed.
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
                FailureReason = Describe(ex);
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
        // Before any session allocates: a long prompt's tensors are mapped, and unmapped when freed (see NativeHeap).
        if (!NativeHeap.MapLargeAllocations())
        {
            _log.LogInformation("The C library does not take glibc's mallopt: freed tensors may stay in the worker's heap");
        }

        ModelsDirectory = ModelCatalog.LocateModelsDirectory(_options.ModelsPath, _startDirectory);
        var catalog = ModelCatalog.Load(ModelsDirectory);

        var models = new List<HostedModel>();
        foreach (var model in catalog.Models)
        {
            cancellationToken.ThrowIfCancellationRequested();
            models.Add(LoadModel(model));
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
            return CudaUnavailable($"{CudaProvider} failed to initialise on device {_options.CudaDeviceId}: {FirstLine(ex.Message)}", ex);
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

    private HostedModel LoadModel(CatalogModel model)
    {
        var manifest = model.Manifest;
        HostedModel Unavailable(string reason, bool fault) => new()
        {
            Id = manifest.Id,
            Manifest = manifest,
            Kind = manifest.Kind,
            Status = HostedModelStatus.Unavailable,
            Reason = reason,
            IsFault = fault,
        };

        if (manifest.Files.Count == 0)
        {
            return Unavailable("the manifest declares no model files yet", fault: false);
        }
        if (manifest.Kind == ModelKind.Chat)
        {
            return LoadChatModel(model, Unavailable);
        }
        if (manifest.Kind is ModelKind.Image or ModelKind.Video)
        {
            // Generators are loaded by the media generator (Generation/) and run only by image and video jobs.
            return Unavailable("generated by image and video jobs, not served on the synchronous endpoints", fault: false);
        }
        if (manifest.Kind != ModelKind.Embedding)
        {
            return Unavailable($"models of kind '{manifest.Kind.ToString().ToLowerInvariant()}' are not served by this worker", fault: false);
        }
        if (!manifest.Files.ContainsKey(TextEncoderRole))
        {
            return Unavailable($"an embedding model needs a '{TextEncoderRole}' file", fault: true);
        }
        var path = model.FilePath(TextEncoderRole);
        if (!File.Exists(path))
        {
            return Unavailable(Missing(path, manifest), fault: true);
        }

        using var activity = WorkerTelemetry.ActivitySource.StartActivity("model.load");
        activity?.SetTag("aurous.model.id", manifest.Id);
        activity?.SetTag("aurous.model.file", Path.GetFileName(path));
        var stopwatch = Stopwatch.StartNew();
        var provider = ExecutionProvider!;
        InferenceSession? session = null;
        InferenceSession? imageSession = null;
        TextEncoderModel? textEncoder = null;
        var file = Path.GetFileName(path);
        try
        {
            session = CreateSessionOrFallBack(path, manifest.Id, ref provider);
            var encoder = textEncoder = TextEncoderModel.Create(session);
            session = null; // owned by the encoder from here on
            SelfTest(encoder);

            ImageEncoderModel? imageEncoder = null;
            if (manifest.Files.ContainsKey(ImageEncoderRole))
            {
                var imagePath = model.FilePath(ImageEncoderRole);
                file = Path.GetFileName(imagePath);
                if (!File.Exists(imagePath))
                {
                    throw new InvalidDataException($"file '{imagePath}' is missing");
                }
                imageSession = CreateSession(imagePath, manifest.Id, provider);
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
            if (manifest.Files.ContainsKey(TokenizerRole))
            {
                var tokenizerPath = model.FilePath(TokenizerRole);
                file = Path.GetFileName(tokenizerPath);
                vocabularySize = File.Exists(tokenizerPath)
                    ? BpeTokenizer.Load(tokenizerPath).VocabSize
                    : throw new InvalidDataException($"file '{tokenizerPath}' is missing");
            }
            file = Path.GetFileName(path);
            var engine = new EmbeddingEngine(manifest, encoder, imageEncoder, vocabularySize, _options);
            var elapsed = stopwatch.Elapsed.TotalMilliseconds;
            activity?.SetTag("aurous.execution_provider", provider);
            WorkerTelemetry.ModelLoadDuration.Record(elapsed,
                new KeyValuePair<string, object?>("aurous.model.id", manifest.Id),
                new KeyValuePair<string, object?>("aurous.execution_provider", provider));
            _log.LogInformation("Loaded model {ModelId} ({Files}) on {Provider} in {ElapsedMs:F0} ms; output dimension {Dimension}; batching up to {MaxBatch} items, {MaxWait} ms",
                manifest.Id, string.Join(", ", manifest.Files.Values), provider, elapsed, encoder.Dimension, _options.MaxBatchSize, _options.MaxBatchWaitMs);
            return new HostedModel
            {
                Id = manifest.Id,
                Manifest = manifest,
                Engine = engine,
                Kind = manifest.Kind,
                Status = HostedModelStatus.Loaded,
                ExecutionProvider = provider,
                LoadMs = Math.Round(elapsed, 1),
                Inputs = Describe(encoder.Session.InputMetadata),
                Outputs = Describe(encoder.Session.OutputMetadata),
                OutputDimension = encoder.Dimension,
                TextEncoder = encoder,
            };
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidDataException or ArgumentException or IOException)
        {
            session?.Dispose();
            imageSession?.Dispose();
            textEncoder?.Dispose();
            var reason = $"failed to load '{file}': {Describe(ex)}";
            activity?.SetStatus(ActivityStatusCode.Error, reason);
            _log.LogError(ex, "Model {ModelId} is unavailable: {Reason}", manifest.Id, reason);
            return Unavailable(reason, fault: true);
        }
    }

    /// <summary>
    /// A decoder-only chat model: its <c>decoder</c> session (created once), config files, tokenizer and a self-test. A
    /// decoder that takes <c>inputs_embeds</c> brings its <c>embeddings</c> and optional <c>vision</c> sessions, created
    /// on the provider the decoder ended up on (<see cref="ChatModel.Create(InferenceSession, CatalogModel, Func{string, InferenceSession})"/> decides which it needs).
    /// </summary>
    private HostedModel LoadChatModel(CatalogModel model, Func<string, bool, HostedModel> unavailable)
    {
        var manifest = model.Manifest;
        if (!manifest.Files.ContainsKey(ChatModel.DecoderRole))
        {
            return unavailable($"a chat model needs a '{ChatModel.DecoderRole}' file", true);
        }
        var path = model.FilePath(ChatModel.DecoderRole);
        if (!File.Exists(path))
        {
            return unavailable(Missing(path, manifest), true);
        }
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("model.load");
        activity?.SetTag("aurous.model.id", manifest.Id);
        activity?.SetTag("aurous.model.file", Path.GetFileName(path));
        var stopwatch = Stopwatch.StartNew();
        var provider = ExecutionProvider!;
        InferenceSession? session = null;
        ChatModel? chat = null;
        try
        {
            session = CreateSessionOrFallBack(path, manifest.Id, ref provider, ArenaUse.GiveBack);
            var decoderProvider = provider;
            chat = ChatModel.Create(session, model, file => CreateSession(file, manifest.Id, decoderProvider));
            session = null; // owned by the chat model from here on
            var plan = chat.PlanMemory(_options.MemoryBudgetBytes, _options.PrefillChunkTokens);
            if (plan.ServedContextWindow < 2)
            {
                throw new InvalidDataException(
                    $"Inference:MemoryBudgetMb ({_options.MemoryBudgetMb} MiB) cannot hold one generation of even 2 tokens: this model needs {plan.RequestBytes(2, 2)} bytes");
            }
            chat.UseMemoryPlan(plan);
            // The CUDA arena keeps what a run allocated: prefill chunks give their working memory back at the end of the run.
            chat.ArenaShrinkage = provider == CudaProvider ? $"gpu:{_options.CudaDeviceId}" : null;
            chat.SelfTest();
            var elapsed = stopwatch.Elapsed.TotalMilliseconds;
            activity?.SetTag("aurous.execution_provider", provider);
            WorkerTelemetry.ModelLoadDuration.Record(elapsed,
                new KeyValuePair<string, object?>("aurous.model.id", manifest.Id),
                new KeyValuePair<string, object?>("aurous.execution_provider", provider));
            _log.LogInformation("Loaded chat model {ModelId} ({Files}) on {Provider} in {ElapsedMs:F0} ms: {Layers} layers, KV cache [{KvHeads} heads x {HeadDim}] per layer, vocabulary {Vocab}, eos {Eos}, context {Context} (served {Served} within {Budget} MiB, prefill chunks of {Chunk}), input {Input}, images {Images}",
                manifest.Id, string.Join(", ", manifest.Files.Values), provider, elapsed, chat.Layers, chat.KvHeads, chat.HeadDim, chat.VocabSize,
                string.Join("/", chat.Defaults.EosTokenIds), chat.ContextWindow, plan.ServedContextWindow, _options.MemoryBudgetMb, plan.PrefillChunkTokens,
                chat.TakesEmbeddings ? "inputs_embeds" : "input_ids",
                chat.SupportsImages ? $"{chat.TokensPerImage} tokens each (id {chat.ImageTokenId})" : "no");
            return new HostedModel
            {
                Id = manifest.Id,
                Manifest = manifest,
                Kind = manifest.Kind,
                Status = HostedModelStatus.Loaded,
                ExecutionProvider = provider,
                LoadMs = Math.Round(elapsed, 1),
                Inputs = Describe(chat.Session.InputMetadata),
                Outputs = Describe(chat.Session.OutputMetadata),
                Chat = chat,
            };
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidDataException or ArgumentException or IOException or System.Text.Json.JsonException)
        {
            session?.Dispose();
            chat?.Dispose();
            var reason = $"failed to load chat model files: {Describe(ex)}";
            activity?.SetStatus(ActivityStatusCode.Error, reason);
            _log.LogError(ex, "Model {ModelId} is unavailable: {Reason}", manifest.Id, reason);
            return unavailable(reason, true);
        }
    }

    /// <summary>How a session's memory arenas treat what its runs allocate.</summary>
    private enum ArenaUse
    {
        /// <summary>ONNX Runtime's defaults: the arenas keep their peak for later runs (fixed-size work: encoders).</summary>
        Keep,
        /// <summary>
        /// Work whose size varies by orders of magnitude (a chat decoder: a long prefill, then small steps): no CPU arena,
        /// so each tensor is allocated and freed on its own and a long prompt's memory goes back to the system when it
        /// ends; on CUDA the arena grows by what is requested (not to the next power of two) and prefill runs shrink it.
        /// </summary>
        GiveBack,
    }

    /// <summary>Creates a session on <paramref name="provider"/>; under <c>auto</c>, a CUDA failure falls back to CPU (and says so).</summary>
    private InferenceSession CreateSessionOrFallBack(string path, string modelId, ref string provider, ArenaUse arena = ArenaUse.Keep)
    {
        try
        {
            return CreateSession(path, modelId, provider, arena);
        }
        catch (OnnxRuntimeException ex) when (provider == CudaProvider && _options.ExecutionProvider == RequestedProvider.Auto)
        {
            _log.LogWarning("Model {ModelId} failed to load on CUDA ({Reason}); falling back to CPU", modelId, FirstLine(ex.Message));
            provider = CpuProvider;
            return CreateSession(path, modelId, provider, arena);
        }
    }

    private InferenceSession CreateSession(string path, string modelId, string provider, ArenaUse arena = ArenaUse.Keep)
    {
        using var options = new SessionOptions
        {
            LogId = modelId,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = _options.IntraOpThreads,
            EnableCpuMemArena = arena == ArenaUse.Keep,
        };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", _options.AllowSpinning ? "1" : "0");
        options.AddSessionConfigEntry("session.inter_op.allow_spinning", _options.AllowSpinning ? "1" : "0");
        if (provider == CudaProvider)
        {
            using var cuda = new OrtCUDAProviderOptions();
            var settings = new Dictionary<string, string> { ["device_id"] = _options.CudaDeviceId.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            if (arena == ArenaUse.GiveBack)
            {
                settings["arena_extend_strategy"] = "kSameAsRequested";
            }
            cuda.UpdateOptions(settings);
            options.AppendExecutionProvider_CUDA(cuda);
        }
        return new InferenceSession(path, options);
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

    private static IReadOnlyList<TensorDescription> Describe(IReadOnlyDictionary<string, NodeMetadata> metadata) =>
        metadata.Select(kv => new TensorDescription(
            kv.Key,
            ElementTypeName(kv.Value.ElementDataType),
            kv.Value.Dimensions.Select((d, i) => d >= 0
                ? (object)d
                : string.IsNullOrEmpty(kv.Value.SymbolicDimensions.ElementAtOrDefault(i)) ? "?" : kv.Value.SymbolicDimensions[i]).ToArray()))
        .ToArray();

    private static string ElementTypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.Int64 => "int64",
        TensorElementType.Int32 => "int32",
        TensorElementType.Float16 => "float16",
        TensorElementType.BFloat16 => "bfloat16",
        _ => type.ToString().ToLowerInvariant(),
    };

    private static string Describe(Exception ex) => ex switch
    {
        TypeInitializationException { InnerException: { } inner } => Describe(inner),
        DllNotFoundException => $"the ONNX Runtime native library could not be loaded ({FirstLine(ex.Message)}); it ships in the Microsoft.ML.OnnxRuntime.Gpu.Linux package under runtimes/linux-x64/native",
        _ => FirstLine(ex.Message),
    };

    /// <summary>Names the missing file and, for a generated test model, the command that writes it.</summary>
    private string Missing(string path, ModelManifest manifest) =>
        manifest.Generator is { Length: > 0 } generator
            ? $"file '{path}' is missing; it is generated by '{generator}': run Aurous.ModelForge --models {ModelsDirectory} before the worker"
            : $"file '{path}' is missing; put the model's export there";

    private static string FirstLine(string message)
    {
        var newline = message.IndexOfAny(['\r', '\n']);
        return (newline < 0 ? message : message[..newline]).Trim();
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
