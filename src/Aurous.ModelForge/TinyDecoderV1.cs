using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-decoder-v1</c>: the text-only tiny chat model (<see cref="TinyDecoder"/>'s recipe) with the
/// embedding lookup inside the decoder (<c>input_ids</c> in) and GPT-2's vocabulary plus ChatML's
/// <c>&lt;|im_start|&gt;</c> = 50257 and <c>&lt;|im_end|&gt;</c> = 50258 (vocabulary 50,259). Files: <c>decoder</c>,
/// <c>tokenizer</c>, <c>tokenizer_config</c>, <c>generation_config</c>, <c>config</c>.
/// </summary>
public sealed class TinyDecoderV1 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-decoder-v1";

    public static TinyDecoderVariant Variant { get; } = new(
        GraphName: "tiny_decoder_v1",
        TokenizerName: "gpt2-bpe+chatml",
        Architecture: "AurousTinyDecoderForCausalLM",
        ModelType: "aurous_tiny_decoder",
        ExtraSpecialTokens: [TinyDecoder.ImStart, TinyDecoder.ImEnd],
        Input: DecoderInput.InputIds,
        ChatTemplate: TinyDecoder.ChatMlTemplate,
        HasVision: false);

    public const int VocabularySize = Gpt2TokenizerJson.VocabularySize + 2;

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = TinyDecoder.TextRoles;

    public IReadOnlyCollection<string> UnversionedRoles { get; } = TinyDecoder.UnversionedRoles;

    public byte[] Generate(ModelManifest manifest, string role) =>
        TinyDecoder.Generate(Variant, GeneratorName, manifest, role)
        ?? throw new InvalidOperationException($"Generator '{Name}' writes {string.Join(", ", Roles)}, but model '{manifest.Id}' asks it for '{role}'.");
}
