using System.Buffers;
using System.Text.Json;

namespace Aurous.Jobs;

/// <summary>
/// The job object as <c>GET /v1/images/{id}</c> (and <c>/v1/videos/{id}</c>) returns it, and as webhook events carry
/// it: one renderer, so the two never differ. Output URLs are built on <paramref name="publicBaseUrl"/> (the API's
/// public address, <c>Outputs:PublicBaseUrl</c>), so the worker renders the same URLs as the API.
/// </summary>
public static class JobView
{
    /// <summary>
    /// The job as JSON: OpenAI-style snake_case fields, times in unix seconds (null until they happen), credits without
    /// trailing zeros. <c>output_urls</c> lists the outputs in index order until they expire at <c>expires_at</c>
    /// (judged at <paramref name="now"/>), and is empty before success and after expiry.
    /// </summary>
    public static byte[] Render(JobRow job, Uri publicBaseUrl, DateTimeOffset now)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            Write(w, job, publicBaseUrl, now);
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes one job object (a list writes several into its <c>data</c> array).</summary>
    public static void Write(Utf8JsonWriter w, JobRow job, Uri publicBaseUrl, DateTimeOffset now)
    {
        var spec = job.Spec;
        w.WriteStartObject();
        w.WriteString("id", job.Id);
        w.WriteString("object", job.Kind == JobKind.Image ? "image" : "video");
        w.WriteString("model", job.Model);
        w.WriteString("status", job.Status);
        w.WriteString("prompt", spec.Prompt);
        WriteNullable(w, "negative_prompt", spec.NegativePrompt);
        w.WriteString("size", spec.Size);
        w.WriteNumber("width", spec.Width);
        w.WriteNumber("height", spec.Height);
        w.WriteNumber("n", spec.N);
        if (job.Kind == JobKind.Video)
        {
            w.WriteNumber("duration_seconds", spec.DurationSeconds ?? 0);
            w.WriteNumber("frames", Models.GenerationSizes.VideoFrames(spec.DurationSeconds ?? 0));
        }
        w.WriteNumber("seed", spec.Seed);
        WriteNullable(w, "lora_id", job.LoraId);
        WriteNullable(w, "lora_source", job.LoraSource);

        w.WriteStartArray("output_urls");
        if (job.Status == JobStatus.Succeeded && !(job.ExpiresAt is { } expires && now > expires))
        {
            foreach (var output in job.Outputs.OrderBy(o => o.Index))
            {
                w.WriteStringValue(OutputUrl(publicBaseUrl, output.Token).AbsoluteUri);
            }
        }
        w.WriteEndArray();

        w.WriteStartObject("usage");
        w.WriteNumber("output_tokens", OutputTokens(job.TokensJson));
        w.WriteNumber("credits_estimated", Normalize(job.Estimate));
        w.WriteNumber("credits_charged", Normalize(job.CreditsCharged ?? 0m));
        w.WritePropertyName("breakdown");
        using (var breakdown = JsonDocument.Parse(job.BreakdownJson))
        {
            w.WriteStartObject();
            foreach (var direction in breakdown.RootElement.EnumerateObject())
            {
                w.WriteStartObject(direction.Name);
                foreach (var modality in direction.Value.EnumerateObject())
                {
                    w.WriteNumber(modality.Name, Normalize(modality.Value.GetDecimal()));
                }
                w.WriteEndObject();
            }
            w.WriteString("model", job.Model);
            w.WriteEndObject();
        }
        w.WriteEndObject();

        if (job.ErrorCode is null)
        {
            w.WriteNull("error");
        }
        else
        {
            w.WriteStartObject("error");
            w.WriteString("code", job.ErrorCode);
            w.WriteString("message", job.ErrorMessage ?? "");
            w.WriteEndObject();
        }
        w.WriteNumber("created_at", job.CreatedAt.ToUnixTimeSeconds());
        WriteTime(w, "started_at", job.StartedAt);
        WriteTime(w, "completed_at", job.CompletedAt);
        WriteTime(w, "expires_at", job.ExpiresAt);
        w.WriteEndObject();
    }

    /// <summary>The public URL of one output: <c>{publicBaseUrl}/v1/outputs/{token}</c>.</summary>
    public static Uri OutputUrl(Uri publicBaseUrl, string token) => new(publicBaseUrl, "/v1/outputs/" + token);

    /// <summary>The billed output tokens of a job (its <c>tokens</c> column: <c>{"output": {"image": n}}</c>).</summary>
    public static long OutputTokens(string tokensJson)
    {
        using var tokens = JsonDocument.Parse(tokensJson);
        return tokens.RootElement.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Object
            ? output.EnumerateObject().Sum(m => m.Value.GetInt64())
            : 0;
    }

    /// <summary>Drops the trailing zeros of Postgres numeric(24,12), so 0.04096 is not written 0.040960000000.</summary>
    private static decimal Normalize(decimal value) => value / 1.000000000000000000000000000000000m;

    private static void WriteNullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteTime(Utf8JsonWriter w, string name, DateTimeOffset? time)
    {
        if (time is { } t)
        {
            w.WriteNumber(name, t.ToUnixTimeSeconds());
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
