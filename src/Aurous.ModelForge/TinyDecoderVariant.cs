namespace Aurous.ModelForge;

/// <summary>How a tiny decoder graph receives its tokens.</summary>
public enum DecoderInput
{
    /// <summary><c>input_ids</c> int64 [batch, seq]: the embedding lookup is inside the decoder (text-only exports).</summary>
    InputIds,
    /// <summary><c>inputs_embeds</c> float [batch, seq, hidden]: the lookup is a separate <c>embeddings</c> graph, so a
    /// caller can put image features at some positions first (the onnxruntime-genai / optimum VLM layout).</summary>
    InputsEmbeds,
}

/// <summary>
/// What distinguishes the versions of the tiny decoder (<see cref="TinyDecoderV1"/>, <see cref="TinyDecoderV2"/>): the
/// special tokens appended to GPT-2's vocabulary (ids 50257, 50258, ... in list order), how the decoder takes its input,
/// the chat template, the names it records, and whether a vision tower comes with it.
/// </summary>
public sealed record TinyDecoderVariant(
    string GraphName,
    string TokenizerName,
    string Architecture,
    string ModelType,
    IReadOnlyList<string> ExtraSpecialTokens,
    DecoderInput Input,
    string ChatTemplate,
    bool HasVision)
{
    public int VocabularySize => Gpt2TokenizerJson.VocabularySize + ExtraSpecialTokens.Count;

    public int IdOf(string specialToken)
    {
        for (var i = 0; i < ExtraSpecialTokens.Count; i++)
        {
            if (ExtraSpecialTokens[i] == specialToken)
            {
                return Gpt2TokenizerJson.VocabularySize + i;
            }
        }
        throw new ArgumentException($"'{specialToken}' is not a special token of {GraphName}.", nameof(specialToken));
    }
}
