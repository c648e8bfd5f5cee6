using Google.FlatBuffers;

namespace Aurous.ModelForge.Onnx;

/// <summary>
/// Writes ONNX Runtime's LoRA adapter file (<c>.onnx_adapter</c>): a FlatBuffers buffer of schema
/// <c>onnxruntime/lora/adapter_format/adapter_schema.fbs</c> (root table <c>Adapter</c>, file identifier <c>TORT</c>),
/// built with Google.FlatBuffers' builder. Each parameter is a named tensor (dims, element type, raw little-endian
/// data aligned to 8 bytes) that overrides the model input of the same name when the adapter is active in a run.
/// </summary>
public static class OnnxAdapterWriter
{
    /// <summary>The only adapter format version ONNX Runtime reads so far.</summary>
    public const int FormatVersion = 1;
    public const string FileIdentifier = "TORT";

    // table Parameter { name:string; dims:[int64]; data_type:TensorDataType; raw_data:[uint8] (force_align: 8); }
    private const int ParameterName = 0, ParameterDims = 1, ParameterDataType = 2, ParameterRawData = 3, ParameterFields = 4;
    // table Adapter { format_version:int; adapter_version:int; model_version:int; parameters:[Parameter]; }
    private const int AdapterFormatVersion = 0, AdapterAdapterVersion = 1, AdapterModelVersion = 2, AdapterParameters = 3, AdapterFields = 4;

    /// <summary>The adapter file for <paramref name="parameters"/> (float tensors), byte-identical for equal inputs.</summary>
    public static byte[] Serialize(IReadOnlyList<OnnxTensor> parameters, int adapterVersion = 1, int modelVersion = 1)
    {
        var builder = new FlatBufferBuilder(1 << 16);
        var offsets = new Offset<Parameter>[parameters.Count];
        for (var i = 0; i < parameters.Count; i++)
        {
            var tensor = parameters[i];
            var name = builder.CreateString(tensor.Name);

            builder.StartVector(sizeof(long), tensor.Dims.Count, sizeof(long));
            for (var d = tensor.Dims.Count - 1; d >= 0; d--)
            {
                builder.AddLong(tensor.Dims[d]);
            }
            var dims = builder.EndVector();

            var raw = tensor.RawData.Span;
            builder.StartVector(1, raw.Length, 8);
            builder.Put(raw.ToArray());
            var data = builder.EndVector();

            builder.StartTable(ParameterFields);
            builder.AddOffset(ParameterName, name.Value, 0);
            builder.AddOffset(ParameterDims, dims.Value, 0);
            builder.AddInt(ParameterDataType, (int)tensor.DataType, 0);
            builder.AddOffset(ParameterRawData, data.Value, 0);
            offsets[i] = new Offset<Parameter>(builder.EndTable());
        }

        builder.StartVector(sizeof(int), offsets.Length, sizeof(int));
        for (var i = offsets.Length - 1; i >= 0; i--)
        {
            builder.AddOffset(offsets[i].Value);
        }
        var vector = builder.EndVector();

        builder.StartTable(AdapterFields);
        builder.AddInt(AdapterFormatVersion, FormatVersion, 0);
        builder.AddInt(AdapterAdapterVersion, adapterVersion, 0);
        builder.AddInt(AdapterModelVersion, modelVersion, 0);
        builder.AddOffset(AdapterParameters, vector.Value, 0);
        var adapter = builder.EndTable();
        builder.Finish(adapter, FileIdentifier);
        return builder.SizedByteArray();
    }

    /// <summary>Marker type for the parameter tables' offsets.</summary>
    private readonly struct Parameter;
}
