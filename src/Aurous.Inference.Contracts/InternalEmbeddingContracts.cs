namespace Aurous.Inference.Contracts;

/// <summary>
/// Body of <c>POST /internal/embeddings</c> (snake_case JSON), sent by the API:
/// <code>
/// {"model":"aurous-embed-vision-1.0","parts":[
///   {"type":"text","token_ids":[15496,995]},
///   {"type":"image_url","url":"https://... | data:image/png;base64,..."},
///   {"type":"video_url","url":"https://... | data:video/mp4;base64,..."}]}
/// </code>
/// Text arrives already tokenised (by the API, with the model's tokenizer.json); the worker does not re-tokenise.
/// Members are nullable because the worker validates what arrives and names what is missing.
/// </summary>
public sealed record InternalEmbeddingRequest
{
    public string? Model { get; init; }
    public IReadOnlyList<InternalEmbeddingPart>? Parts { get; init; }
}

/// <summary>A text part as token ids (the API tokenised it), or a media part by URL (the worker fetches and decodes it).</summary>
public sealed record InternalEmbeddingPart
{
    /// <summary><c>text</c>, <c>image_url</c> or <c>video_url</c>.</summary>
    public string? Type { get; init; }
    public int[]? TokenIds { get; init; }
    public string? Url { get; init; }
}

/// <summary>200 body: the combined, L2-normalised vector and the token accounting per modality.</summary>
public sealed record InternalEmbeddingResponse(string Model, float[] Embedding, InternalEmbeddingUsage Usage);

/// <summary>
/// <c>text_tokens</c>: token ids received; <c>image_tokens</c> = images x media.image_tokens;
/// <c>video_tokens</c> = sampled frames x media.video_frame_tokens.
/// </summary>
public sealed record InternalEmbeddingUsage(int TextTokens, int ImageTokens, int VideoTokens, int Images, int VideoFrames);
