using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-clip-v1</c>: a CLIP-style multimodal embedding model in the file layout of a real export:
/// <list type="bullet">
/// <item><c>text_encoder</c>: <see cref="TinyTextEncoderV1"/>'s graph (GPT-2 ids -> 2048-d, L2-normalised)</item>
/// <item><c>image_encoder</c>: <see cref="TinyImageEncoderV1"/> (CLIP-normalised RGB [batch, 3, S, S] -> 2048-d, L2-normalised)</item>
/// <item><c>tokenizer</c>: GPT-2's byte-level BPE as a Hugging Face <c>tokenizer.json</c> (<see cref="Gpt2TokenizerJson"/>)</item>
/// </list>
/// Both towers project into the same 2048-d space; neither is trained.
/// </summary>
public sealed class TinyClipV1 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-clip-v1";
    public const string TextEncoderRole = TinyTextEncoderV1.Role;
    public const string ImageEncoderRole = TinyImageEncoderV1.Role;
    public const string TokenizerRole = "tokenizer";

    public string Name => GeneratorName;

    public IReadOnlyCollection<string> Roles { get; } = [TextEncoderRole, ImageEncoderRole, TokenizerRole];

    public IReadOnlyCollection<string> UnversionedRoles { get; } = [TokenizerRole];

    /// <summary>v1's text encoder records the name of the text-encoder recipe it embeds.</summary>
    public IReadOnlyCollection<string> RecordedGeneratorNames { get; } = [GeneratorName, TinyTextEncoderV1.GeneratorName];

    public byte[] Generate(ModelManifest manifest, string role)
    {
        if (manifest.Kind != ModelKind.Embedding)
        {
            throw new InvalidOperationException($"Generator '{Name}' makes embedding models, but model '{manifest.Id}' is of kind {manifest.Kind}.");
        }
        if (manifest.NativeDimension is { } native && native != TinyTextEncoderV1.OutputDimension)
        {
            throw new InvalidOperationException($"Generator '{Name}' outputs {TinyTextEncoderV1.OutputDimension} dimensions, but model '{manifest.Id}' declares native_dimension {native}.");
        }
        return role switch
        {
            TextEncoderRole => OnnxWriter.Serialize(TinyTextEncoderV1.BuildModel(manifest.Id)),
            ImageEncoderRole => OnnxWriter.Serialize(TinyImageEncoderV1.BuildModel(manifest.Id, GeneratorName, (manifest.Media ?? new MediaRules()).ImageSize)),
            TokenizerRole => Gpt2TokenizerJson.Generate(),
            _ => throw new InvalidOperationException($"Generator '{Name}' writes {string.Join(", ", Roles)}, but model '{manifest.Id}' asks it for '{role}'."),
        };
    }
}
