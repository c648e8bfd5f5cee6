namespace Aurous.Inference.Contracts;

/// <summary>The worker's internal endpoints. Everything under <see cref="Prefix"/> needs the internal API key.</summary>
public static class InternalRoutes
{
    public const string Prefix = "/internal";
    /// <summary><c>POST</c> <see cref="InternalEmbeddingRequest"/>; 200 <see cref="InternalEmbeddingFrame"/> when accepted, else <see cref="InternalEmbeddingResponse"/>; 4xx/503 <see cref="InternalErrorResponse"/>.</summary>
    public const string Embeddings = Prefix + "/embeddings";
    /// <summary><c>POST</c> <see cref="InternalChatRequest"/>; 200 <see cref="ChatStreamContentType"/> lines of <see cref="InternalChatEvent"/>, 4xx/503 <see cref="InternalErrorResponse"/>.</summary>
    public const string ChatCompletions = Prefix + "/chat/completions";
    /// <summary><c>GET</c>: 200 <see cref="InternalModelList"/>, the loaded models and the context window each is served with.</summary>
    public const string Models = Prefix + "/models";
    /// <summary>One JSON object per line, each flushed as it is produced.</summary>
    public const string ChatStreamContentType = "application/x-ndjson";
}
