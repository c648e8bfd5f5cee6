using System.Security.Cryptography;
using Aurous.Inference.Contracts;
using Aurous.InferenceWorker.Models;
using Aurous.Models;

namespace Aurous.InferenceWorker.Chat;

// Before a generation starts: the request checked against its model and compiled, and its images fetched and encoded.
public sealed partial class ChatEngine
{
    /// <summary>Checks the request against the model; throws <see cref="ChatRequestException"/> when it is refused.</summary>
    public ChatGeneration Prepare(InternalChatRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.Model))
        {
            throw new ChatRequestException(400, "invalid_request", "'model' is required");
        }
        if (host.State == ModelHostState.Loading)
        {
            throw new ChatRequestException(503, "model_not_ready", "the worker is still loading its models");
        }
        if (host.State == ModelHostState.Failed)
        {
            throw new ChatRequestException(503, "model_not_ready", $"the worker failed to start: {host.FailureReason}");
        }
        var hosted = host.Find(request.Model) ?? throw new ChatRequestException(404, "model_not_found", $"model '{request.Model}' does not exist");
        if (hosted.Kind != ModelKind.Chat)
        {
            throw new ChatRequestException(400, "model_not_supported", $"model '{hosted.Id}' is not a chat model");
        }
        var model = hosted.Chat ?? throw new ChatRequestException(503, "model_not_ready", $"model '{hosted.Id}' is not loaded: {hosted.Reason}");

        var ids = request.PromptTokenIds;
        if (ids is null || ids.Length == 0)
        {
            throw new ChatRequestException(400, "invalid_request", "'prompt_token_ids' must be a non-empty array of token ids");
        }
        var prompt = new long[ids.Length];
        for (var i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)model.VocabSize)
            {
                throw new ChatRequestException(400, "invalid_request",
                    $"prompt_token_ids[{i}] = {ids[i]} is not in the vocabulary (0 to {model.VocabSize - 1})");
            }
            prompt[i] = ids[i];
        }
        var budget = request.ReasoningBudget ?? 0;
        if (budget < 0 || budget > ChatLimits.MaxReasoningBudget)
        {
            throw new ChatRequestException(400, "invalid_request", $"'reasoning_budget' must be from 0 to {ChatLimits.MaxReasoningBudget}, not {budget}");
        }
        var overhead = ReasoningMarkerTokens(model, budget);
        // The served window: the nominal one, or less where the memory budget cannot hold a generation that long.
        // Refused here, before anything is allocated.
        var window = model.ServedContextWindow;
        if ((long)ids.Length + overhead + 1 > window)
        {
            throw new ChatRequestException(400, ChatLimits.ContextLengthExceeded, ChatLimits.ContextLengthMessage(window, ids.Length + overhead, null));
        }
        if (request.MaxTokens is < 1)
        {
            throw new ChatRequestException(400, "invalid_request", $"'max_tokens' must be at least 1, not {request.MaxTokens}");
        }
        var maxTokens = request.MaxTokens ?? window - ids.Length - overhead;
        if ((long)ids.Length + maxTokens + overhead > window)
        {
            throw new ChatRequestException(400, ChatLimits.ContextLengthExceeded, ChatLimits.ContextLengthMessage(window, ids.Length + overhead, maxTokens));
        }
        var temperature = request.Temperature ?? model.Defaults.Temperature;
        if (!double.IsFinite(temperature) || temperature < 0 || temperature > 2)
        {
            throw new ChatRequestException(400, "invalid_request", $"'temperature' must be between 0 and 2, not {temperature}");
        }
        var topP = request.TopP ?? model.Defaults.TopP;
        if (!double.IsFinite(topP) || topP <= 0 || topP > 1)
        {
            throw new ChatRequestException(400, "invalid_request", $"'top_p' must be greater than 0 and at most 1, not {topP}");
        }
        var stop = request.Stop ?? [];
        if (stop.Count > ChatLimits.MaxStopStrings)
        {
            throw new ChatRequestException(400, "invalid_request", $"'stop' holds {stop.Count} strings; at most {ChatLimits.MaxStopStrings}");
        }
        if (stop.Any(string.IsNullOrEmpty))
        {
            throw new ChatRequestException(400, "invalid_request", "'stop' strings must be non-empty");
        }
        var seed = request.Seed is { } s ? unchecked((ulong)s) : BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var format = ResponseFormat(request.ResponseFormat);
        var tools = Tools(request);
        var images = request.Images ?? [];
        if (images.Count > 0)
        {
            if (!model.SupportsImages)
            {
                throw new ChatRequestException(400, "unsupported_content_type", $"model '{hosted.Id}' does not accept images");
            }
            if (images.Count > ChatLimits.MaxImages)
            {
                throw new ChatRequestException(400, "too_many_images", $"'images' holds {images.Count}; at most {ChatLimits.MaxImages}");
            }
        }
        var pads = ids.Count(id => id == model.ImageTokenId);
        if (pads != images.Count * model.TokensPerImage)
        {
            throw new ChatRequestException(400, "invalid_request",
                $"the prompt holds {pads} image pad tokens; {images.Count} image(s) need exactly {images.Count * model.TokensPerImage}");
        }
        return new ChatGeneration(hosted.Id, model, prompt, maxTokens, temperature, topP, seed, stop.ToArray(), request.IgnoreEos, format, budget, tools,
            images, hosted.Manifest?.Media ?? new MediaRules());
    }
    /// <summary>
    /// Fetches (SSRF rules, the model's size and time caps), decodes and encodes the request's images, all before the
    /// response starts, so a bad image is a 400 and nothing is generated. Throws <see cref="ChatRequestException"/>.
    /// </summary>
    public async Task<ChatGeneration> EncodeImagesAsync(ChatGeneration g, CancellationToken cancellationToken)
    {
        if (g.Images is not { Count: > 0 } images)
        {
            return g;
        }
        var media = g.Media ?? new MediaRules();
        using var activity = WorkerTelemetry.ActivitySource.StartActivity("chat.encode_images");
        activity?.SetTag("aurous.chat.images", images.Count);
        var pixels = await Task.WhenAll(images.Select(async (url, i) =>
        {
            try
            {
                var bytes = await fetcher.FetchAsync(url, media.MaxMediaBytes, TimeSpan.FromSeconds(media.FetchTimeoutSeconds), cancellationToken);
                return await g.Model.PreprocessImageAsync(bytes, decoder, cancellationToken);
            }
            catch (Media.MediaException ex)
            {
                throw new ChatRequestException(400, ex.Code, $"images[{i}]: {ex.Message}");
            }
            catch (Media.MediaDecoderUnavailableException ex)
            {
                throw new ChatRequestException(503, "media_decoder_unavailable", $"images[{i}]: {ex.Message}");
            }
        }));
        return g with { ImageFeatures = g.Model.EncodeImages(pixels, cancellationToken) };
    }

    /// <summary>The compiled <c>tools</c> and <c>tool_choice</c>: null when the model may not call any.</summary>
    private static ToolCalling? Tools(InternalChatRequest request)
    {
        var declared = request.Tools ?? [];
        if (declared.Count == 0)
        {
            if (request.ToolChoice is not null)
            {
                throw new ChatRequestException(400, "invalid_request", "'tool_choice' needs 'tools'");
            }
            return null;
        }
        if (declared.Count > ChatLimits.MaxTools)
        {
            throw new ChatRequestException(400, "invalid_request", $"'tools' holds {declared.Count} functions; at most {ChatLimits.MaxTools}");
        }
        var required = request.ToolChoice switch
        {
            null or "auto" => false,
            "required" => true,
            _ => throw new ChatRequestException(400, "invalid_request", "'tool_choice' must be \"auto\" or \"required\""),
        };
        var specs = new List<ToolSpec>(declared.Count);
        for (var i = 0; i < declared.Count; i++)
        {
            var name = declared[i].Name;
            if (string.IsNullOrEmpty(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                throw new ChatRequestException(400, "invalid_request", $"'tools[{i}].name' must be 1-64 characters of a-z, A-Z, 0-9, _ and -");
            }
            if (specs.Any(t => t.Name == name))
            {
                throw new ChatRequestException(400, "invalid_request", $"'tools' declares '{name}' twice");
            }
            var parameters = declared[i].Parameters is { ValueKind: not System.Text.Json.JsonValueKind.Null } schema
                ? JsonSchemaCompiler.Compile(schema, $"tools[{i}].function.parameters")
                : JsonSchemaCompiler.NoArguments;
            specs.Add(new ToolSpec(name, parameters));
        }
        return new ToolCalling(specs, required, request.ParallelToolCalls ?? true);
    }

    /// <summary>The compiled <c>response_format</c>: null for free text.</summary>
    private static SchemaNode? ResponseFormat(InternalResponseFormat? format)
    {
        switch (format?.Type)
        {
            case null when format is null:
            case "text":
                return null;
            case "json_object":
                return JsonSchemaCompiler.JsonObject;
            case "json_schema":
                if (format.Schema is not { ValueKind: System.Text.Json.JsonValueKind.Object } schema)
                {
                    throw new ChatRequestException(400, "invalid_request", "'response_format.schema' must be a JSON Schema object");
                }
                return JsonSchemaCompiler.Compile(schema);
            default:
                throw new ChatRequestException(400, "invalid_request", "'response_format.type' must be \"text\", \"json_object\" or \"json_schema\"");
        }
    }
}
