using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-decoder-v2</c>: the tiny chat model (<see cref="TinyDecoder"/>'s recipe) with a vision tower, in
/// the three-graph layout onnxruntime-genai and optimum export vision-language models in:
/// <list type="bullet">
/// <item><c>vision</c> (<c>vision.onnx</c>): <see cref="TinyVisionTower"/>, pixels -> 16 feature rows per image.</item>
/// <item><c>embeddings</c> (<c>embeddings.onnx</c>): <c>input_ids</c> -> <c>inputs_embeds</c>, the token table.</item>
/// <item><c>decoder</c> (<c>decoder.onnx</c>): v1's decoder taking <c>inputs_embeds</c> instead of <c>input_ids</c>
/// (the tied output projection keeps its own copy of the table).</item>
/// <item><c>tokenizer</c>, <c>tokenizer_config</c>, <c>generation_config</c>, <c>config</c> as v1, with the vocabulary
/// grown by <c>&lt;|vision_start|&gt;</c> = 50259, <c>&lt;|vision_end|&gt;</c> = 50260 and <c>&lt;|image_pad|&gt;</c> = 50261
/// (50,262 in all; the model never produces them), and config.json's <c>image_token_id</c>, vision token ids and
/// <c>vision_config</c>.</item>
/// </list>
/// Every weight v1 has is the same here (the three new tokens' embedding rows come from a seed of their own), so a
/// text-only prompt gets v1's logits.
/// </summary>
public sealed class TinyDecoderV2 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-decoder-v2";
    public const string VisionRole = TinyVisionTower.Role;

    /// <summary>
    /// Qwen2-VL's convention: message content is a string or a list of parts; an image part renders as one
    /// <c>&lt;|image_pad|&gt;</c> between the vision markers, which the caller expands to the image's
    /// <see cref="TinyVisionTower.TokensPerImage"/> pads before tokenizing.
    /// </summary>
    public const string ChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}" +
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}" +
        "{% if part['type'] == 'image' or part['type'] == 'image_url' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}" +
        "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    public static TinyDecoderVariant Variant { get; } = new(
        GraphName: "tiny_decoder_v2",
        TokenizerName: "gpt2-bpe+chatml+vision",
        Architecture: "AurousTinyVisionDecoderForConditionalGeneration",
        ModelType: "aurous_tiny_vl",
        ExtraSpecialTokens: [TinyDecoder.ImStart, TinyDecoder.ImEnd, TinyVisionTower.VisionStart, TinyVisionTower.VisionEnd, TinyVisionTower.ImagePad],
        Input: DecoderInput.InputsEmbeds,
        ChatTemplate: ChatTemplate,
        HasVision: true);

    public const int VocabularySize = Gpt2TokenizerJson.VocabularySize + 5;
    public const int VisionStartId = Gpt2TokenizerJson.VocabularySize + 2;
    public const int VisionEndId = Gpt2TokenizerJson.VocabularySize + 3;
    public const int ImagePadId = Gpt2TokenizerJson.VocabularySize + 4;

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = [.. TinyDecoder.TextRoles, TinyDecoder.EmbeddingsRole, VisionRole];

    public IReadOnlyCollection<string> UnversionedRoles { get; } = TinyDecoder.UnversionedRoles;

    public byte[] Generate(ModelManifest manifest, string role) =>
        TinyDecoder.Generate(Variant, GeneratorName, manifest, role)
        ?? (role == VisionRole
            ? OnnxWriter.Serialize(TinyVisionTower.BuildModel(manifest.Id, GeneratorName))
            : throw new InvalidOperationException($"Generator '{Name}' writes {string.Join(", ", Roles)}, but model '{manifest.Id}' asks it for '{role}'."));
}
