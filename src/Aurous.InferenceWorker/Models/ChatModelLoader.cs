using Aurous.InferenceWorker.Chat;
using Aurous.Models;
using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// A decoder-only chat model: its <c>decoder</c> session (created once), config files, tokenizer, memory plan and a
/// self-test. A decoder that takes <c>inputs_embeds</c> brings its <c>embeddings</c> and optional <c>vision</c>
/// sessions, created on the provider the decoder ended up on
/// (<see cref="ChatModel.Create(InferenceSession, CatalogModel, Func{string, InferenceSession})"/> decides which it needs).
/// </summary>
internal sealed class ChatModelLoader(ModelSessions sessions, InferenceOptions options, ILogger log)
    : ModelKindLoader(ChatModel.DecoderRole, "a chat model")
{
    protected override HostedModel Load(ModelLoad load, CatalogModel model, string path, string provider)
    {
        var manifest = model.Manifest;
        InferenceSession? session = null;
        ChatModel? chat = null;
        try
        {
            session = sessions.CreateOrFallBack(path, manifest.Id, ref provider, ArenaUse.GiveBack);
            var decoderProvider = provider;
            chat = ChatModel.Create(session, model, file => sessions.Create(file, manifest.Id, decoderProvider));
            session = null; // owned by the chat model from here on
            var plan = chat.PlanMemory(options.MemoryBudgetBytes, options.PrefillChunkTokens);
            if (plan.ServedContextWindow < 2)
            {
                throw new InvalidDataException(
                    $"Inference:MemoryBudgetMb ({options.MemoryBudgetMb} MiB) cannot hold one generation of even 2 tokens: this model needs {plan.RequestBytes(2, 2)} bytes");
            }
            chat.UseMemoryPlan(plan);
            // The CUDA arena keeps what a run allocated: prefill chunks give their working memory back at the end of the run.
            chat.ArenaShrinkage = provider == ModelHost.CudaProvider ? $"gpu:{options.CudaDeviceId}" : null;
            // 0 is one per core: on a one-core machine that is the shared session's one thread already.
            var decodeThreads = options.DecodeIntraOpThreads == 0 && Environment.ProcessorCount == 1 ? 1 : options.DecodeIntraOpThreads;
            if (provider == ModelHost.CpuProvider && options.MaxDecodeBatch > 1 && decodeThreads != options.IntraOpThreads)
            {
                // Batched decode steps on a session of their own, with their own thread count.
                chat.UseDecodeSession(sessions.Create(path, manifest.Id, provider, ArenaUse.GiveBack, decodeThreads));
            }
            chat.SelfTest();
            var elapsed = load.Succeeded(provider);
            log.LogInformation("Loaded chat model {ModelId} ({Files}) on {Provider} in {ElapsedMs:F0} ms: {Layers} layers, KV cache [{KvHeads} heads x {HeadDim}] per layer, vocabulary {Vocab}, eos {Eos}, context {Context} (served {Served} within {Budget} MiB, prefill chunks of {Chunk}), input {Input}, images {Images}",
                manifest.Id, string.Join(", ", manifest.Files.Values), provider, elapsed, chat.Layers, chat.KvHeads, chat.HeadDim, chat.VocabSize,
                string.Join("/", chat.Defaults.EosTokenIds), chat.ContextWindow, plan.ServedContextWindow, options.MemoryBudgetMb, plan.PrefillChunkTokens,
                chat.TakesEmbeddings ? "inputs_embeds" : "input_ids",
                chat.SupportsImages ? $"{chat.TokensPerImage} tokens each (id {chat.ImageTokenId})" : "no");
            return load.Loaded(provider, elapsed, chat.Session, chat: chat);
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or InvalidDataException or ArgumentException or IOException or System.Text.Json.JsonException)
        {
            session?.Dispose();
            chat?.Dispose();
            return load.Failed(ex, $"failed to load chat model files: {ModelLoad.Describe(ex)}", log);
        }
    }
}
