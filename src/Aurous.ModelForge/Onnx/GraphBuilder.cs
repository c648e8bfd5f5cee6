namespace Aurous.ModelForge.Onnx;

/// <summary>
/// Collects nodes and initializers in creation order (stable, so the serialized bytes are too). Shared by the recipes
/// that build graphs node by node (the decoder, its embedding table, the vision tower).
/// </summary>
internal sealed class GraphBuilder
{
    public List<OnnxNode> Nodes { get; } = [];
    public List<OnnxTensor> Initializers { get; } = [];

    public void Add(OnnxNode node) => Nodes.Add(node);

    /// <summary>Adds a one-output node named after its output; returns the output.</summary>
    public string Node(string op, string[] inputs, string output, params OnnxAttribute[] attributes)
    {
        Nodes.Add(new OnnxNode(op, inputs, [output], output) { Attributes = attributes });
        return output;
    }

    public void Floats(string name, long[] dims, float[] values) => Initializers.Add(OnnxTensor.FromFloats(name, dims, values));

    public void Int64s(string name, long[] dims, long[] values) => Initializers.Add(OnnxTensor.FromInt64s(name, dims, values));

    /// <summary>LayerNormalization over the last axis with the given scale and bias initializers.</summary>
    public string LayerNorm(string input, string weight, string bias, float epsilon, string name) =>
        Node("LayerNormalization", [input, weight, bias], name, OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", epsilon));
}
