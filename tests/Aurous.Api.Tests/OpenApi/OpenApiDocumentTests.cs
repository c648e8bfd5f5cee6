using System.Text.Json;

namespace Aurous.Api.Tests.OpenApi;

/// <summary>
/// /openapi/v1.json describes every operation: a summary, the request body of each that takes one, a success answer
/// with a schema, and error answers in the product's error envelope; and its schemas say what the product documents say.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class OpenApiDocumentTests(ApiFixture fixture)
{
    private const string ErrorRef = "#/components/schemas/Error";

    /// <summary>POST actions on an existing resource that take no body.</summary>
    private static readonly string[] BodylessActions = ["/cancel", "/rotate", "/revoke", "/test", "/rotate_secret", "/enable"];

    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head"];

    [Fact]
    public async Task Every_operation_has_a_summary_its_bodies_and_its_errors()
    {
        var doc = await DocumentAsync();
        var operations = 0;
        var ids = new HashSet<string>();
        foreach (var path in doc.GetProperty("paths").EnumerateObject())
        {
            foreach (var (method, operation) in path.Value.EnumerateObject().Where(p => Methods.Contains(p.Name)).Select(p => (p.Name, p.Value)))
            {
                operations++;
                var where = $"{method.ToUpperInvariant()} {path.Name}";
                ids.Add(operation.GetProperty("operationId").GetString()!).ShouldBeTrue($"{where} repeats an operationId");
                (operation.TryGetProperty("summary", out var summary) ? summary.GetString() : null).ShouldNotBeNullOrWhiteSpace($"{where} has no summary");

                if (method is "post" or "put" or "patch" && !BodylessActions.Any(a => path.Name.EndsWith(a, StringComparison.Ordinal)))
                {
                    operation.TryGetProperty("requestBody", out var body).ShouldBeTrue($"{where} has no request body");
                    SchemaOf(body, "application/json").ShouldNotBeNull($"{where}'s request body has no JSON schema");
                }

                var responses = operation.GetProperty("responses").EnumerateObject().ToList();
                responses.Where(r => r.Name.StartsWith('2')).Any(r => r.Value.TryGetProperty("content", out var content)
                        && content.EnumerateObject().Any(c => c.Value.TryGetProperty("schema", out _)))
                    .ShouldBeTrue($"{where} has no 2xx answer with a schema");

                var errors = responses.Where(r => r.Name[0] is '4' or '5').ToList();
                errors.Any(r => r.Name[0] == '4').ShouldBeTrue($"{where} lists no 4xx answer");
                foreach (var error in errors)
                {
                    var schema = SchemaOf(error.Value, "application/json");
                    schema.ShouldNotBeNull($"{where} {error.Name} has no JSON schema");
                    schema.Value.GetProperty("$ref").GetString().ShouldBe(ErrorRef, $"{where} {error.Name}");
                    error.Value.GetProperty("description").GetString().ShouldStartWith("Error codes: ", Case.Sensitive, $"{where} {error.Name}");
                }
                if (path.Name.StartsWith("/v1/", StringComparison.Ordinal) && !Anonymous(path.Name))
                {
                    errors.Select(e => e.Name).ShouldContain("401", $"{where} needs an API key but lists no 401");
                }
            }
        }
        // The walk saw the whole API (38 operations, HEAD included), not an empty or partial document.
        operations.ShouldBeGreaterThanOrEqualTo(38);
    }

    [Fact]
    public async Task Every_reference_points_at_a_component_of_the_document()
    {
        var doc = await DocumentAsync();
        var components = doc.GetProperty("components").GetProperty("schemas");
        var refs = new List<string>();
        Collect(doc, refs);
        refs.ShouldNotBeEmpty();
        foreach (var target in refs.Distinct())
        {
            target.ShouldStartWith("#/components/schemas/");
            components.TryGetProperty(target["#/components/schemas/".Length..], out _).ShouldBeTrue($"{target} is not in the document");
        }
        foreach (var component in components.EnumerateObject())
        {
            refs.ShouldContain("#/components/schemas/" + component.Name, $"{component.Name} is described but used nowhere");
        }
    }

    [Fact]
    public async Task The_error_envelope_is_the_one_of_the_product_documents()
    {
        var components = (await DocumentAsync()).GetProperty("components").GetProperty("schemas");
        var error = components.GetProperty("Error");
        Required(error).ShouldBe(["error"]);
        var body = error.GetProperty("properties").GetProperty("error");
        Required(body).ShouldBe(["type", "code", "message", "doc_url", "request_id"], ignoreOrder: true);
        Enum(body.GetProperty("properties").GetProperty("type")).ShouldContain("invalid_request");
        components.TryGetProperty("ErrorEnvelope", out _).ShouldBeFalse("the generated envelope is replaced by Error");
    }

    [Fact]
    public async Task Chat_requires_model_and_messages_and_streams_as_server_sent_events()
    {
        var doc = await DocumentAsync();
        var components = doc.GetProperty("components").GetProperty("schemas");
        Required(components.GetProperty("ChatCompletionRequest")).ShouldBe(["model", "messages"], ignoreOrder: true);
        var effort = components.GetProperty("ChatCompletionRequest").GetProperty("properties").GetProperty("reasoning_effort");
        Enum(effort).ShouldContain("high");

        var create = doc.GetProperty("paths").GetProperty("/v1/chat/completions").GetProperty("post");
        SchemaOf(create.GetProperty("requestBody"), "application/json")!.Value.GetProperty("$ref").GetString()
            .ShouldBe("#/components/schemas/ChatCompletionRequest");
        var ok = create.GetProperty("responses").GetProperty("200");
        SchemaOf(ok, "application/json")!.Value.GetProperty("$ref").GetString().ShouldBe("#/components/schemas/ChatCompletion");
        SchemaOf(ok, "text/event-stream")!.Value.GetProperty("$ref").GetString().ShouldBe("#/components/schemas/ChatCompletionChunk");
        var responses = create.GetProperty("responses");
        responses.GetProperty("402").GetProperty("description").GetString()!.ShouldContain("insufficient_credits");
        responses.GetProperty("409").GetProperty("description").GetString()!.ShouldContain("idempotency_key_in_use");
        responses.GetProperty("429").GetProperty("description").GetString()!.ShouldContain("token_rate_limit_exceeded");
        Required(components.GetProperty("Usage")).ShouldBe(["prompt_tokens", "total_tokens", "credits_charged", "breakdown"], ignoreOrder: true);
    }

    [Fact]
    public async Task Embeddings_follow_the_reference_page()
    {
        var doc = await DocumentAsync();
        var components = doc.GetProperty("components").GetProperty("schemas");
        var request = components.GetProperty("EmbeddingRequest");
        Required(request).ShouldBe(["model", "input"], ignoreOrder: true);
        var properties = request.GetProperty("properties");
        Enum(properties.GetProperty("encoding_format")).ShouldBe(["float", "base64"]);
        properties.GetProperty("user").GetProperty("maxLength").GetInt32().ShouldBe(256);
        Required(components.GetProperty("EmbeddingList")).ShouldBe(["object", "data", "model", "usage"], ignoreOrder: true);

        var bad = doc.GetProperty("paths").GetProperty("/v1/embeddings").GetProperty("post").GetProperty("responses").GetProperty("400")
            .GetProperty("description").GetString()!;
        bad!.ShouldContain("embeddings_unsupported_dimensions");
        bad.ShouldContain("embeddings_batch_not_supported");
    }

    [Fact]
    public async Task Balance_and_models_carry_the_fields_of_the_quickstart()
    {
        var components = (await DocumentAsync()).GetProperty("components").GetProperty("schemas");
        Required(components.GetProperty("Balance")).ShouldBe(["credits", "held_credits", "available_credits", "currency"], ignoreOrder: true);
        var model = components.GetProperty("Model");
        Required(model).ShouldContain("kind");
        Required(model.GetProperty("properties").GetProperty("aurous_metadata")).ShouldContain("dimensions");
    }

    [Fact]
    public async Task Secrets_shown_once_are_not_required_and_times_are_integers()
    {
        var components = (await DocumentAsync()).GetProperty("components").GetProperty("schemas");
        Required(components.GetProperty("ApiKeyView")).ShouldNotContain("key");
        Required(components.GetProperty("WebhookEndpointView")).ShouldNotContain("secret");
        var created = components.GetProperty("ApiKeyView").GetProperty("properties").GetProperty("created_at");
        created.GetProperty("type").GetString().ShouldBe("integer");
    }

    private async Task<JsonElement> DocumentAsync()
    {
        using var client = fixture.System.CreateApiClient();
        using var response = await client.GetAsync("/openapi/v1.json");
        ((int)response.StatusCode).ShouldBe(200);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>The routes outside the API key: outputs and LoRA previews (the link is the credential).</summary>
    private static bool Anonymous(string path) =>
        path.StartsWith("/v1/outputs/", StringComparison.Ordinal) || path.EndsWith("/preview.png", StringComparison.Ordinal);

    private static JsonElement? SchemaOf(JsonElement bodyOrResponse, string contentType) =>
        bodyOrResponse.TryGetProperty("content", out var content) && content.TryGetProperty(contentType, out var media)
            && media.TryGetProperty("schema", out var schema) ? schema : null;

    private static string[] Required(JsonElement schema) =>
        schema.TryGetProperty("required", out var required) ? required.EnumerateArray().Select(r => r.GetString()!).ToArray() : [];

    private static string[] Enum(JsonElement schema) => schema.GetProperty("enum").EnumerateArray().Select(v => v.GetString()!).ToArray();

    private static void Collect(JsonElement element, List<string> refs)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == "$ref")
                    {
                        refs.Add(property.Value.GetString()!);
                    }
                    else
                    {
                        Collect(property.Value, refs);
                    }
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, refs);
                }
                break;
        }
    }
}
