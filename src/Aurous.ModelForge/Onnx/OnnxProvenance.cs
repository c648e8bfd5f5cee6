using Google.Protobuf;

namespace Aurous.ModelForge.Onnx;

/// <summary>
/// Reads who made an ONNX file: ModelProto's <c>producer_name</c> and, for files this forge wrote, the
/// <c>aurous.generator</c> metadata entry. Only the top level of the file is walked, and a file whose producer is not
/// <see cref="ForgeProducer"/> is left after its first few bytes, so a large real export costs nothing to inspect.
/// </summary>
public static class OnnxProvenance
{
    public const string ForgeProducer = "aurous-modelforge";
    public const string GeneratorKey = "aurous.generator";

    private const int ModelProducerName = 2, ModelGraph = 7, ModelMetadataProps = 14;
    private const int EntryKey = 1, EntryValue = 2;

    /// <summary>
    /// The <c>aurous.generator</c> recorded in a file the forge wrote (empty when the forge wrote it without one), or
    /// null when the file is not a forge-written ONNX model (another producer, not ONNX, unreadable).
    /// </summary>
    public static string? ReadForgeGenerator(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            using var input = new CodedInputStream(stream, leaveOpen: true);
            var producerSeen = false;
            string generator = "";
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                var field = WireFormat.GetTagFieldNumber(tag);
                var wire = WireFormat.GetTagWireType(tag);
                if (field == ModelProducerName && wire == WireFormat.WireType.LengthDelimited)
                {
                    if (input.ReadString() != ForgeProducer)
                    {
                        return null;
                    }
                    producerSeen = true;
                }
                else if (!producerSeen && field >= ModelGraph)
                {
                    return null; // producer_name comes before the graph in every file the forge writes
                }
                else if (field == ModelMetadataProps && wire == WireFormat.WireType.LengthDelimited)
                {
                    var (key, value) = ReadEntry(input.ReadBytes());
                    if (key == GeneratorKey)
                    {
                        generator = value;
                    }
                }
                else
                {
                    input.SkipLastField();
                }
            }
            return producerSeen ? generator : null;
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static (string Key, string Value) ReadEntry(ByteString bytes)
    {
        var input = bytes.CreateCodedInput();
        string key = "", value = "";
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case EntryKey: key = input.ReadString(); break;
                case EntryValue: value = input.ReadString(); break;
                default: input.SkipLastField(); break;
            }
        }
        return (key, value);
    }
}
