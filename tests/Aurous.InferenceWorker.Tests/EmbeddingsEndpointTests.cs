using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aurous.Inference.Contracts;
using Aurous.ModelForge;
using Aurous.Tokenizers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Aurous.InferenceWorker.Tests;

/// <summary>Generated models, test media, a loopback media server and two workers (default, and private networks allowed).</summary>
public sealed class EmbeddingsFixture : IAsyncLifetime
{
    public const string Model = "aurous-embed-vision-1.0";
    public const long MaxMediaBytes = 2_000_000;

    private readonly TempModels _models = new();
    private readonly List<WebApplicationFactory<Program>> _factories = [];

    public byte[] Png { get; } = TestMedia.Png();
    public byte[] OtherPng { get; } = TestMedia.Png(source: "mandelbrot");
    public byte[] Mp4 { get; } = TestMedia.Mp4(seconds: 2, fps: 10);
    public byte[] Webm { get; } = TestMedia.Webm(seconds: 1, fps: 10);
    public MediaServer Server { get; private set; } = null!;
    public HttpClient Worker { get; private set; } = null!;
    public HttpClient PermissiveWorker { get; private set; } = null!;
    public BpeTokenizer Tokenizer { get; private set; } = null!;
    public string ModelsDirectory => _models.Directory;

    public async Task InitializeAsync()
    {
        var manifest = Path.Combine(_models.Directory, Model, "manifest.json");
        File.WriteAllText(manifest, File.ReadAllText(manifest)
            .Replace("\"max_media_bytes\": 20971520", $"\"max_media_bytes\": {MaxMediaBytes}")
            .Replace("\"fetch_timeout_seconds\": 10", "\"fetch_timeout_seconds\": 2"));
        Forge.EnsureGenerated(_models.Catalog());
        Tokenizer = BpeTokenizer.Load(Path.Combine(_models.Directory, Model, "tokenizer.json"));
        Server = await MediaServer.StartAsync(Png);
        Worker = await StartWorkerAsync();
        PermissiveWorker = await StartWorkerAsync(("Media:AllowPrivateNetworks", "true"));
    }

    public async Task<HttpClient> StartWorkerAsync(params (string Key, string Value)[] settings)
    {
        var factory = TestWorker.Create(builder =>
        {
            builder.UseSetting("Models:Path", _models.Directory);
            builder.UseSetting("Inference:ExecutionProvider", "cpu");
            foreach (var (key, value) in settings)
            {
                builder.UseSetting(key, value);
            }
        });
        _factories.Add(factory);
        var client = factory.CreateAuthorizedClient();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (JsonDocument.Parse(await client.GetStringAsync("/v1/info")).RootElement.GetProperty("status").GetString() == "loading"
            && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        return client;
    }

    public async Task DisposeAsync()
    {
        foreach (var factory in _factories)
        {
            await factory.DisposeAsync();
        }
        await Server.DisposeAsync();
        _models.Dispose();
    }
}

public sealed class EmbeddingsEndpointTests(EmbeddingsFixture fx) : IClassFixture<EmbeddingsFixture>
{
    private const string Model = EmbeddingsFixture.Model;

    private static object Text(params int[] ids) => new { type = "text", token_ids = ids };
    private static object Image(string url) => new { type = "image_url", url };
    private static object Video(string url) => new { type = "video_url", url };

    [Fact]
    public async Task Text_gives_a_unit_2048_vector_and_counts_the_tokenizer_tokens()
    {
        var ids = fx.Tokenizer.Encode("Hello world");
        ids.ShouldBe([15496, 995]);

        var (status, body) = await Post(fx.Worker, Text(ids));

        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("model").GetString().ShouldBe(Model);
        var vector = Vector(body);
        vector.Length.ShouldBe(2048);
        Norm(vector).ShouldBe(1.0, 1e-5);
        Usage(body).ShouldBe((2, 0, 0, 0, 0));
    }

    [Fact]
    public async Task The_model_alias_is_accepted()
    {
        var (status, body) = await PostRaw(fx.Worker, new { model = "aurous-embed-vision", parts = new[] { Text(464) } });
        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        body.GetProperty("model").GetString().ShouldBe(Model);
    }

    [Fact]
    public async Task Text_plus_image_is_the_normalised_mean_of_the_parts()
    {
        var png = TestMedia.DataUrl("image/png", fx.Png);
        var text = Vector((await Post(fx.Worker, Text(15496, 995))).Body);
        var (imageStatus, imageBody) = await Post(fx.Worker, Image(png));
        imageStatus.ShouldBe(HttpStatusCode.OK, imageBody.ToString());
        var image = Vector(imageBody);

        var (status, body) = await Post(fx.Worker, Text(15496, 995), Image(png));

        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        var combined = Vector(body);
        Norm(combined).ShouldBe(1.0, 1e-5);
        var expected = Normalise(text.Zip(image, (a, b) => (double)a + b).ToArray());
        MaxDiff(combined, expected).ShouldBeLessThan(1e-5);
        Usage(body).ShouldBe((2, 256, 0, 1, 0));
        Usage(imageBody).ShouldBe((0, 256, 0, 1, 0));
    }

    [Fact]
    public async Task Different_images_give_different_vectors_and_the_same_input_the_same_vector()
    {
        var first = Vector((await Post(fx.Worker, Image(TestMedia.DataUrl("image/png", fx.Png)))).Body);
        var again = Vector((await Post(fx.Worker, Image(TestMedia.DataUrl("image/png", fx.Png)))).Body);
        var other = Vector((await Post(fx.Worker, Image(TestMedia.DataUrl("image/png", fx.OtherPng)))).Body);

        again.ShouldBe(first);
        MaxDiff(first, other.Select(v => (double)v).ToArray()).ShouldBeGreaterThan(1e-3);
    }

    [Theory]
    [InlineData("mp4")]
    [InlineData("webm")]
    public async Task Video_samples_at_most_video_max_frames_and_bills_each(string container)
    {
        var bytes = container == "mp4" ? fx.Mp4 : fx.Webm; // 20 and 10 frames
        var url = TestMedia.DataUrl($"video/{container}", bytes);

        var (status, body) = await Post(fx.Worker, Video(url));

        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        Norm(Vector(body)).ShouldBe(1.0, 1e-5);
        Usage(body).ShouldBe((0, 0, 8 * 64, 0, 8));
        var (_, again) = await Post(fx.Worker, Video(url));
        Vector(again).ShouldBe(Vector(body));
    }

    [Fact]
    public async Task A_short_video_uses_the_frames_it_has()
    {
        var (status, body) = await Post(fx.Worker, Video(TestMedia.DataUrl("video/mp4", TestMedia.Mp4(seconds: 0.3, fps: 10))));

        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        Usage(body).ShouldBe((0, 0, 3 * 64, 0, 3));
    }

    [Fact]
    public async Task All_three_modalities_combine_into_one_vector()
    {
        var (status, body) = await Post(fx.Worker,
            Text(464, 3290), Image(TestMedia.DataUrl("image/png", fx.Png)), Video(TestMedia.DataUrl("video/mp4", fx.Mp4)));

        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        Norm(Vector(body)).ShouldBe(1.0, 1e-5);
        Usage(body).ShouldBe((2, 256, 512, 1, 8));
    }

    [Fact]
    public async Task Concurrent_requests_are_batched_and_batched_results_equal_unbatched_results()
    {
        var batched = await fx.StartWorkerAsync(("Inference:MaxBatchSize", "32"), ("Inference:MaxBatchWaitMs", "25"));
        var unbatched = await fx.StartWorkerAsync(("Inference:MaxBatchSize", "1"));
        var sequences = Enumerable.Range(1, 48).Select(n => Enumerable.Range(0, n).Select(k => (n * 131 + k * 17) % 50000).ToArray()).ToArray();
        var sizes = new List<int>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == WorkerTelemetry.Name && instrument.Name == "aurous.inference.batch_size")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) =>
        {
            lock (sizes)
            {
                sizes.Add(value);
            }
        });
        listener.Start();

        var together = await Task.WhenAll(sequences.Select(s => Post(batched, Text(s))));
        listener.Dispose();
        var alone = new List<float[]>();
        foreach (var sequence in sequences)
        {
            alone.Add(Vector((await Post(unbatched, Text(sequence))).Body));
        }

        for (var i = 0; i < sequences.Length; i++)
        {
            together[i].Status.ShouldBe(HttpStatusCode.OK);
            MaxDiff(Vector(together[i].Body), alone[i].Select(v => (double)v).ToArray()).ShouldBeLessThan(1e-5, $"sequence {i}");
        }
        lock (sizes)
        {
            sizes.Max().ShouldBeGreaterThan(1, "concurrent requests should have shared a run");
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:{port}/image.png")]
    [InlineData("http://localhost:{port}/image.png")]
    [InlineData("http://[::1]:{port}/image.png")]
    [InlineData("http://10.0.0.1/image.png")]
    [InlineData("http://192.168.0.10/image.png")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://[fd00:ec2::254]/latest/meta-data/")]
    [InlineData("http://0.0.0.0:{port}/image.png")]
    [InlineData("http://2130706433:{port}/image.png")]
    public async Task By_default_non_public_addresses_are_refused(string template)
    {
        var url = template.Replace("{port}", fx.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var (status, body) = await Post(fx.Worker, Text(464), Image(url));

        status.ShouldBe(HttpStatusCode.BadRequest);
        Error(body).ShouldBe(("media_url_forbidden", 1));
        body.GetProperty("error").GetProperty("message").GetString()!.ShouldStartWith("input[1] (image_url): ");
    }

    [Fact]
    public async Task With_AllowPrivateNetworks_a_loopback_fetch_works_and_follows_redirects()
    {
        var (status, body) = await Post(fx.PermissiveWorker, Image(fx.Server.Url("/image.png")));
        status.ShouldBe(HttpStatusCode.OK, body.ToString());
        var direct = Vector((await Post(fx.PermissiveWorker, Image(TestMedia.DataUrl("image/png", fx.Png)))).Body);
        Vector(body).ShouldBe(direct);

        var (redirectStatus, redirected) = await Post(fx.PermissiveWorker, Video(fx.Server.Url("/redirect/2")));
        redirectStatus.ShouldBe(HttpStatusCode.OK, redirected.ToString());
        Usage(redirected).ShouldBe((0, 0, 64, 0, 1)); // a still image as a video: one frame
    }

    [Fact]
    public async Task Fetch_failures_are_400s_naming_the_part()
    {
        var worker = fx.PermissiveWorker;
        Error((await Post(worker, Text(464), Image(fx.Server.Url("/missing")))).Body).ShouldBe(("media_fetch_failed", 1));
        Error((await Post(worker, Image(fx.Server.Url("/redirect/5")))).Body).ShouldBe(("media_fetch_failed", 0));
        Error((await Post(worker, Image(fx.Server.Url("/redirect-to-file")))).Body).ShouldBe(("invalid_media_url", 0));
        Error((await Post(worker, Image("http://nonexistent.invalid/x.png"))).Body).ShouldBe(("media_fetch_failed", 0));
        Error((await Post(worker, Image("file:///etc/passwd"))).Body).ShouldBe(("invalid_media_url", 0));
        Error((await Post(worker, Image("ftp://example.com/x.png"))).Body).ShouldBe(("invalid_media_url", 0));
        Error((await Post(worker, Image("not a url"))).Body).ShouldBe(("invalid_media_url", 0));
        Error((await Post(worker, Image("data:image/png;base64,%%%"))).Body).ShouldBe(("invalid_media_url", 0));
        var timedOut = await Post(worker, Image(fx.Server.Url("/slow")));
        timedOut.Status.ShouldBe(HttpStatusCode.BadRequest);
        Error(timedOut.Body).ShouldBe(("media_fetch_failed", 0));
        timedOut.Body.GetProperty("error").GetProperty("message").GetString()!.ShouldContain("took longer than 2 s");
    }

    [Fact]
    public async Task Media_larger_than_the_cap_is_refused_declared_or_streamed()
    {
        var worker = fx.PermissiveWorker;
        Error((await Post(worker, Image(fx.Server.Url("/big")))).Body).ShouldBe(("media_too_large", 0));
        Error((await Post(worker, Image(fx.Server.Url("/big-chunked")))).Body).ShouldBe(("media_too_large", 0));
        var tooBig = TestMedia.DataUrl("image/png", new byte[EmbeddingsFixture.MaxMediaBytes + 1]);
        var (status, body) = await Post(fx.Worker, Text(464), Video(tooBig));
        status.ShouldBe(HttpStatusCode.BadRequest);
        Error(body).ShouldBe(("media_too_large", 1));
    }

    [Fact]
    public async Task Undecodable_bytes_are_media_decode_failed()
    {
        var garbage = TestMedia.DataUrl("image/png", Enumerable.Range(0, 3000).Select(i => (byte)(i * 31 % 256)).ToArray());
        var (status, body) = await Post(fx.Worker, Text(464), Image(garbage));
        status.ShouldBe(HttpStatusCode.BadRequest);
        Error(body).ShouldBe(("media_decode_failed", 1));
        body.GetProperty("error").GetProperty("message").GetString()!.ShouldStartWith("input[1] (image_url): could not decode the image");

        Error((await Post(fx.Worker, Video(garbage))).Body).ShouldBe(("media_decode_failed", 0));
        Error((await Post(fx.PermissiveWorker, Image(fx.Server.Url("/garbage")))).Body).ShouldBe(("media_decode_failed", 0));
        // An HLS playlist must not make ffmpeg open other files.
        var playlist = TestMedia.DataUrl("application/vnd.apple.mpegurl", "#EXTM3U\n#EXTINF:1,\n/etc/hostname\n"u8.ToArray());
        Error((await Post(fx.Worker, Video(playlist))).Body).ShouldBe(("media_decode_failed", 0));
    }

    [Fact]
    public async Task Invalid_requests_get_precise_codes()
    {
        (await PostRaw(fx.Worker, new { model = "nope", parts = new[] { Text(1) } })).ShouldSatisfyAllConditions(
            r => r.Status.ShouldBe(HttpStatusCode.NotFound),
            r => Error(r.Body).ShouldBe(("model_not_found", null)));
        Error((await PostRaw(fx.Worker, new { model = Model, parts = Array.Empty<object>() })).Body).Code.ShouldBe("invalid_request");
        Error((await Post(fx.Worker, new { type = "audio_url", url = "x" })).Body).ShouldBe(("invalid_part", 0));
        Error((await Post(fx.Worker, Text(1), Text())).Body).ShouldBe(("invalid_part", 1));
        Error((await Post(fx.Worker, Text(50257))).Body).ShouldBe(("invalid_token_ids", 0));
        Error((await Post(fx.Worker, Text(-1))).Body).ShouldBe(("invalid_token_ids", 0));
        Error((await Post(fx.Worker, Image(""))).Body).ShouldBe(("invalid_media_url", 0));
        Error((await PostRaw(fx.Worker, new { model = Model, parts = Enumerable.Repeat(Text(1), 101).ToArray() })).Body).Code.ShouldBe("too_many_parts");
        Error((await Post(fx.Worker, Text(new int[128_001]))).Body).Code.ShouldBe("context_length_exceeded");
        using var content = new StringContent("{not json", System.Text.Encoding.UTF8, "application/json");
        var bad = await fx.Worker.PostAsync("/internal/embeddings", content);
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        Error(JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement).Code.ShouldBe("invalid_request");
    }

    [Fact]
    public async Task While_models_load_the_answer_is_503_model_not_ready()
    {
        // A worker whose models folder holds nothing loadable answers 503 model_unavailable for the model; one that is
        // still loading answers model_not_ready. Loading is too fast to catch here, so check the host state mapping directly.
        var host = new Models.ModelHost(new InferenceOptions(), new TestHostEnvironment(), Microsoft.Extensions.Logging.Abstractions.NullLogger<Models.ModelHost>.Instance);
        var service = new Embeddings.EmbeddingService(host, null!, null!);
        var error = await Should.ThrowAsync<Embeddings.EmbeddingRequestException>(() => service.EmbedAsync(
            new InternalEmbeddingRequest { Model = Model, Parts = [new() { Type = "text", TokenIds = [1] }] }, CancellationToken.None));
        error.Status.ShouldBe(503);
        error.Code.ShouldBe("model_not_ready");
    }

    private sealed class TestHostEnvironment : Microsoft.Extensions.Hosting.IHostEnvironment
    {
        public string EnvironmentName { get; set; } = "Test";
        public string ApplicationName { get; set; } = "test";
        public string ContentRootPath { get; set; } = AppContext.BaseDirectory;
        public Microsoft.Extensions.FileProviders.IFileProvider ContentRootFileProvider { get; set; } = null!;
    }

    private static Task<(HttpStatusCode Status, JsonElement Body)> Post(HttpClient client, params object[] parts) =>
        PostRaw(client, new { model = Model, parts });

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostRaw(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("/internal/embeddings", body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    private static float[] Vector(JsonElement body) =>
        body.GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()).ToArray();

    private static (int Text, int Image, int Video, int Images, int Frames) Usage(JsonElement body)
    {
        var u = body.GetProperty("usage");
        return (u.GetProperty("text_tokens").GetInt32(), u.GetProperty("image_tokens").GetInt32(), u.GetProperty("video_tokens").GetInt32(),
            u.GetProperty("images").GetInt32(), u.GetProperty("video_frames").GetInt32());
    }

    private static (string? Code, int? Part) Error(JsonElement body)
    {
        body.TryGetProperty("error", out var error).ShouldBeTrue(body.ToString());
        var part = error.GetProperty("part");
        return (error.GetProperty("code").GetString(), part.ValueKind == JsonValueKind.Null ? null : part.GetInt32());
    }

    private static double Norm(float[] v) => Math.Sqrt(v.Sum(x => (double)x * x));

    private static double[] Normalise(double[] v)
    {
        var norm = Math.Sqrt(v.Sum(x => x * x));
        return v.Select(x => x / norm).ToArray();
    }

    private static double MaxDiff(float[] actual, double[] expected) => actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
}
