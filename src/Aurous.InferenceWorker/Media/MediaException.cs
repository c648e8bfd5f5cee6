namespace Aurous.InferenceWorker.Media;

/// <summary>The error codes of media handling; each maps to a 4xx answer naming the part (never a 500).</summary>
public static class MediaErrorCodes
{
    /// <summary>Not http(s) or data:, or a malformed URL / data: URL.</summary>
    public const string InvalidMediaUrl = "invalid_media_url";
    /// <summary>The URL resolves (or redirects) to loopback, private, link-local, metadata or other non-public addresses.</summary>
    public const string MediaUrlForbidden = "media_url_forbidden";
    /// <summary>DNS failure, connection failure, HTTP error status, too many redirects, or the fetch timed out.</summary>
    public const string MediaFetchFailed = "media_fetch_failed";
    /// <summary>Larger than the model's media.max_media_bytes (declared or while streaming).</summary>
    public const string MediaTooLarge = "media_too_large";
    /// <summary>ffmpeg could not decode an image / video frame from the bytes (or timed out doing so).</summary>
    public const string MediaDecodeFailed = "media_decode_failed";
    /// <summary>An image's (or a video frame's) width x height exceeds <see cref="FfmpegDecoder.MaxPixels"/>: a decompression bomb, or simply too large.</summary>
    public const string ImageTooLarge = "image_too_large";
    public const string VideoTooLarge = "video_too_large";
}

/// <summary>A media part could not be used; the endpoint answers 400 with <see cref="Code"/> and names the part.</summary>
public sealed class MediaException(string code, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Code { get; } = code;
}
