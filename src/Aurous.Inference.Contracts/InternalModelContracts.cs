namespace Aurous.Inference.Contracts;

/// <summary>
/// Body of <c>GET /internal/models</c>: the models this worker serves now and the context each is served with.
/// <code>
/// {"models":[{"id":"aurous-grow-2.0-pro","context_window":256000,"served_context_window":104857}]}
/// </code>
/// </summary>
public sealed record InternalModelList(IReadOnlyList<InternalModelInfo> Models);

/// <param name="Id">The model id (as in the catalog).</param>
/// <param name="ContextWindow">The model's nominal context window (its manifest's).</param>
/// <param name="ServedContextWindow">
/// The longest request (prompt + max_tokens, in tokens) the worker accepts: the nominal window, or less where its
/// memory budget cannot hold a generation that long. Longer ones are refused with 400 <c>context_length_exceeded</c>.
/// </param>
public sealed record InternalModelInfo(string Id, int ContextWindow, int ServedContextWindow);
