using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-clip-v2</c>: a CLIP-style multimodal embedding model in the file layout of a real export:
/// <list type="bullet">
/// <item><c>text_encoder</c>: <see cref="TinyTextEncoderV2"/> (GPT-2 ids -> mean pooling -> 64 -> 768 -> tanh -> 2048, L2-normalised)</item>
/// <item><c>image_encoder</c>: <see cref="TinyImageEncoderV1"/> (CLIP-normalised RGB [batch, 3, S, S] -> 2048-d, L2-normalised)</item>
/// <item><c>tokenizer</c>: GPT-2's byte-level BPE as a Hugging Face <c>tokenizer.json</c> (<see cref="Gpt2TokenizerJson"/>)</item>
/// </list>
/// Both towers project into the same 2048-d space; neither is trained. A directory an older recipe wrote (tiny-clip-v1
/// recorded other generator names) is stale for this one and regenerated (<see cref="Forge"/>).
/// </summary>
public sealed class TinyClipV2 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-clip-v2";
    public const string TextEncoderRole = TinyTextEncoderV2.Role;
    public const string ImageEncoderRole = TinyImageEncoderV1.Role;
    public const string TokenizerRole = "tokenizer";

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = [TextEncoderRole, ImageEncoderRole, TokenizerRole];

    public IReadOnlyCollection<string> UnversionedRoles { get; } = [TokenizerRole];

    public byte[] Generate(ModelManifest manifest, string role)
    {
        if (manifest.Kind != ModelKind.Embedding)
        {
            throw new InvalidOperationException($"Generator '{Name}' makes embedding models, but model '{manifest.Id}' is of kind {manifest.Kind}.");
        }
        if (manifest.NativeDimension is { } native && native != TinyTextEncoderV2.OutputDimension)
        {
            throw new InvalidOperationException($"Generator '{Name}' outputs {TinyTextEncoderV2.OutputDimension} dimensions, but model '{manifest.Id}' declares native_dimension {native}.");
        }
        return role switch
        {
            TextEncoderRole => OnnxWriter.Serialize(TinyTextEncoderV2.BuildModel(manifest.Id, TinyTextEncoderV2.HeadWidth, GeneratorName)),
            ImageEncoderRole => OnnxWriter.Serialize(TinyImageEncoderV1.BuildModel(manifest.Id, GeneratorName, (manifest.Media ?? new MediaRules()).ImageSize)),
            TokenizerRole => Gpt2TokenizerJson.Generate(),
            _ => throw new InvalidOperationException($"Generator '{Name}' writes {string.Join(", ", Roles)}, but model '{manifest.Id}' asks it for '{role}'."),
        };
    }
}
