using Google.Protobuf;

namespace Aurous.ModelForge.Onnx;

/// <summary>
/// Serialises <see cref="OnnxModel"/> as an ONNX ModelProto with Google.Protobuf's wire-format primitives (no generated
/// code, no Python). Field numbers follow onnx/onnx.proto; each message is built bottom-up so that nested messages can be
/// written length-delimited. Output depends only on the model, so equal models give byte-identical files.
/// </summary>
public static class OnnxWriter
{
    // ModelProto
    private const int ModelIrVersion = 1, ModelProducerName = 2, ModelProducerVersion = 3, ModelDomain = 4,
        ModelModelVersion = 5, ModelDocString = 6, ModelGraph = 7, ModelOpsetImport = 8, ModelMetadataProps = 14;
    // OperatorSetIdProto
    private const int OpsetDomain = 1, OpsetVersion = 2;
    // StringStringEntryProto
    private const int EntryKey = 1, EntryValue = 2;
    // GraphProto
    private const int GraphNode = 1, GraphName = 2, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;
    // NodeProto
    private const int NodeInput = 1, NodeOutput = 2, NodeName = 3, NodeOpType = 4, NodeAttribute = 5;
    // AttributeProto
    private const int AttrName = 1, AttrF = 2, AttrI = 3, AttrS = 4, AttrInts = 8, AttrType = 20;
    // TensorProto
    private const int TensorDims = 1, TensorDataType = 2, TensorName = 8, TensorRawData = 9;
    // ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto, TensorShapeProto.Dimension
    private const int ValueInfoName = 1, ValueInfoType = 2;
    private const int TypeTensorType = 1;
    private const int TensorTypeElemType = 1, TensorTypeShape = 2;
    private const int ShapeDim = 1;
    private const int DimValue = 1, DimParam = 2;

    public static byte[] Serialize(OnnxModel model) => Message(w => WriteModel(w, model));

    public static void Write(OnnxModel model, Stream destination)
    {
        var bytes = Serialize(model);
        destination.Write(bytes);
    }

    private static void WriteModel(CodedOutputStream w, OnnxModel m)
    {
        Int64(w, ModelIrVersion, m.IrVersion);
        String(w, ModelProducerName, m.ProducerName);
        String(w, ModelProducerVersion, m.ProducerVersion);
        String(w, ModelDomain, m.Domain);
        Int64(w, ModelModelVersion, m.ModelVersion);
        if (m.DocString is not null)
        {
            String(w, ModelDocString, m.DocString);
        }
        Nested(w, ModelGraph, g => WriteGraph(g, m.Graph));
        Nested(w, ModelOpsetImport, o =>
        {
            String(o, OpsetDomain, "");
            Int64(o, OpsetVersion, m.OpsetVersion);
        });
        foreach (var (key, value) in m.Metadata)
        {
            Nested(w, ModelMetadataProps, e =>
            {
                String(e, EntryKey, key);
                String(e, EntryValue, value);
            });
        }
    }

    private static void WriteGraph(CodedOutputStream w, OnnxGraph g)
    {
        foreach (var node in g.Nodes)
        {
            Nested(w, GraphNode, n => WriteNode(n, node));
        }
        String(w, GraphName, g.Name);
        foreach (var tensor in g.Initializers)
        {
            Nested(w, GraphInitializer, t => WriteTensor(t, tensor));
        }
        foreach (var input in g.Inputs)
        {
            Nested(w, GraphInput, v => WriteValueInfo(v, input));
        }
        foreach (var output in g.Outputs)
        {
            Nested(w, GraphOutput, v => WriteValueInfo(v, output));
        }
    }

    private static void WriteNode(CodedOutputStream w, OnnxNode n)
    {
        foreach (var input in n.Inputs)
        {
            String(w, NodeInput, input);
        }
        foreach (var output in n.Outputs)
        {
            String(w, NodeOutput, output);
        }
        if (n.Name is not null)
        {
            String(w, NodeName, n.Name);
        }
        String(w, NodeOpType, n.OpType);
        foreach (var attribute in n.Attributes)
        {
            Nested(w, NodeAttribute, a => WriteAttribute(a, attribute));
        }
    }

    private static void WriteAttribute(CodedOutputStream w, OnnxAttribute a)
    {
        String(w, AttrName, a.Name);
        switch (a.Type)
        {
            case OnnxAttributeType.Float:
                w.WriteTag(AttrF, WireFormat.WireType.Fixed32);
                w.WriteFloat(a.FloatValue);
                break;
            case OnnxAttributeType.Int:
                Int64(w, AttrI, a.IntValue);
                break;
            case OnnxAttributeType.String:
                w.WriteTag(AttrS, WireFormat.WireType.LengthDelimited);
                w.WriteBytes(ByteString.CopyFromUtf8(a.StringValue ?? ""));
                break;
            case OnnxAttributeType.Ints:
                // proto2 "repeated int64" without [packed=true]: one tag per element (parsers accept both forms).
                foreach (var value in a.IntsValue)
                {
                    Int64(w, AttrInts, value);
                }
                break;
            default:
                throw new NotSupportedException($"Attribute type {a.Type} is not supported by the writer.");
        }
        w.WriteTag(AttrType, WireFormat.WireType.Varint);
        w.WriteInt32((int)a.Type);
    }

    private static void WriteTensor(CodedOutputStream w, OnnxTensor t)
    {
        foreach (var dim in t.Dims)
        {
            Int64(w, TensorDims, dim);
        }
        w.WriteTag(TensorDataType, WireFormat.WireType.Varint);
        w.WriteInt32((int)t.DataType);
        String(w, TensorName, t.Name);
        w.WriteTag(TensorRawData, WireFormat.WireType.LengthDelimited);
        w.WriteBytes(UnsafeByteOperations.UnsafeWrap(t.RawData));
    }

    private static void WriteValueInfo(CodedOutputStream w, OnnxValueInfo v)
    {
        String(w, ValueInfoName, v.Name);
        Nested(w, ValueInfoType, type => Nested(type, TypeTensorType, tensor =>
        {
            tensor.WriteTag(TensorTypeElemType, WireFormat.WireType.Varint);
            tensor.WriteInt32((int)v.ElementType);
            Nested(tensor, TensorTypeShape, shape =>
            {
                foreach (var dim in v.Shape)
                {
                    Nested(shape, ShapeDim, d =>
                    {
                        if (dim.Param is not null)
                        {
                            String(d, DimParam, dim.Param);
                        }
                        else
                        {
                            Int64(d, DimValue, dim.Value ?? throw new ArgumentException($"Dimension of '{v.Name}' has neither value nor name."));
                        }
                    });
                }
            });
        }));
    }

    private static void Int64(CodedOutputStream w, int field, long value)
    {
        w.WriteTag(field, WireFormat.WireType.Varint);
        w.WriteInt64(value);
    }

    private static void String(CodedOutputStream w, int field, string value)
    {
        w.WriteTag(field, WireFormat.WireType.LengthDelimited);
        w.WriteString(value);
    }

    private static void Nested(CodedOutputStream w, int field, Action<CodedOutputStream> body)
    {
        var bytes = Message(body);
        w.WriteTag(field, WireFormat.WireType.LengthDelimited);
        w.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
    }

    private static byte[] Message(Action<CodedOutputStream> body)
    {
        using var buffer = new MemoryStream();
        using (var w = new CodedOutputStream(buffer, leaveOpen: true))
        {
            body(w);
            w.Flush();
        }
        return buffer.ToArray();
    }
}
