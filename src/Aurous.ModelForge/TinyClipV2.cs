using Aurous.ModelForge.Onnx;
using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>
/// <c>aurous-forge/tiny-clip-v2</c>: <see cref="TinyClipV1"/> with <see cref="TinyTextEncoderV2"/>'s text tower (a
/// 64 -> 768 -> tanh -> 2048 MLP head after the mean pooling) instead of v1's single projection. The image tower
/// (<see cref="TinyImageEncoderV1"/>, already an MLP) and the tokenizer are unchanged except for the generator name
/// recorded in the image encoder's metadata.
/// </summary>
public sealed class TinyClipV2 : IModelGenerator
{
    public const string GeneratorName = "aurous-forge/tiny-clip-v2";
    public const string TextEncoderRole = TinyTextEncoderV2.Role;
    public const string ImageEncoderRole = TinyImageEncoderV1.Role;
    public const string TokenizerRole = TinyClipV1.TokenizerRole;

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
