using Azure.Storage.Blobs;

namespace Aurous.Jobs;

/// <summary>
/// Job outputs in blob storage (Azurite locally, Azure Blob in the cloud): container <see cref="Container"/>, one blob
/// per output named <c>{jobId}/{index}.{png|mp4}</c>, so a retried run overwrites rather than adds.
/// </summary>
public sealed class OutputBlobs(BlobServiceClient blobs)
{
    public const string Container = "outputs";

    public static string BlobName(string jobId, int index, string contentType) =>
        $"{jobId}/{index}.{(contentType == "video/mp4" ? "mp4" : "png")}";

    /// <summary>Uploads (or overwrites) one output.</summary>
    public Task UploadAsync(string blobName, ReadOnlyMemory<byte> bytes, string contentType, CancellationToken ct) => throw new NotImplementedException();

    /// <summary>Deletes one output; deleting a missing blob is not an error.</summary>
    public Task DeleteAsync(string blobName, CancellationToken ct) => throw new NotImplementedException();

    private BlobServiceClient Client => blobs;
}
