using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;

namespace Aurous.Jobs;

/// <summary>
/// Job outputs in blob storage (Azurite locally, Azure Blob in the cloud): container <see cref="Container"/>, one blob
/// per output named <c>{jobId}/{index}.{png|mp4}</c>, so a retried run overwrites rather than adds. The container is
/// private: clients read outputs only through the API's expiring <c>/v1/outputs/{token}</c> links.
/// </summary>
public sealed class OutputBlobs(BlobServiceClient blobs)
{
    public const string Container = "outputs";

    private readonly BlobContainerClient _container = blobs.GetBlobContainerClient(Container);
    private volatile bool _containerExists;

    public static string BlobName(string jobId, int index, string contentType) =>
        $"{jobId}/{index}.{(contentType == "video/mp4" ? "mp4" : "png")}";

    /// <summary>Uploads (or overwrites) one output.</summary>
    public async Task UploadAsync(string blobName, ReadOnlyMemory<byte> bytes, string contentType, CancellationToken ct)
    {
        await EnsureContainerAsync(ct);
        await _container.GetBlobClient(blobName).UploadAsync(BinaryData.FromBytes(bytes), new BlobUploadOptions
        {
            HttpHeaders = new BlobHttpHeaders { ContentType = contentType },
        }, ct);
    }

    /// <summary>
    /// A seekable stream over one output that fetches only the parts read (so a Range request downloads only its
    /// range); null when the blob does not exist.
    /// </summary>
    public async Task<Stream?> OpenReadAsync(string blobName, CancellationToken ct)
    {
        try
        {
            return await _container.GetBlobClient(blobName).OpenReadAsync(new BlobOpenReadOptions(allowModifications: false), ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return null;
        }
    }

    /// <summary>Deletes one output; deleting a missing blob is not an error.</summary>
    public async Task DeleteAsync(string blobName, CancellationToken ct)
    {
        try
        {
            await _container.GetBlobClient(blobName).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: ct);
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            // The container itself is gone: so is the blob.
        }
    }

    private async Task EnsureContainerAsync(CancellationToken ct)
    {
        if (_containerExists)
        {
            return;
        }
        await _container.CreateIfNotExistsAsync(PublicAccessType.None, cancellationToken: ct);
        _containerExists = true;
    }
}
