using Aurous.Models;

namespace Aurous.ModelForge;

/// <summary>A recipe that produces a model's files (by role, as the manifest's <c>files</c> names them) from nothing.</summary>
public interface IModelGenerator
{
    /// <summary>The name a manifest's <c>generator</c> field uses, e.g. <c>aurous-forge/tiny-clip-v2</c>.</summary>
    string Name { get; }

    /// <summary>The file roles this recipe writes.</summary>
    IReadOnlyCollection<string> Roles { get; }

    /// <summary>
    /// The <c>aurous.generator</c> values this recipe records in the ONNX files it writes. A forge-written file in a
    /// model's directory that records any other value is stale (an older recipe's output) and is regenerated.
    /// </summary>
    IReadOnlyCollection<string> RecordedGeneratorNames => [Name];

    /// <summary>
    /// Roles whose files cannot record which recipe wrote them (tokenizer.json, config JSON). They go with the model's
    /// ONNX files: when one of those is stale, each of these is rewritten too where its content differs from what this
    /// recipe writes, so that a directory never pairs a new graph with an old vocabulary or config.
    /// </summary>
    IReadOnlyCollection<string> UnversionedRoles => [];

    /// <summary>Builds the content of one role's file. Must be deterministic: same manifest, same bytes.</summary>
    byte[] Generate(ModelManifest manifest, string role);
}
