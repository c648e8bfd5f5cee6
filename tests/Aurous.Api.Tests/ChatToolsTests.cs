using System.ClientModel;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Aurous.Api.Tests;

/// <summary>Tool calling through the official OpenAI .NET SDK: all four tool_choice shapes, streaming, the next turn.</summary>
[Collection(ApiCollection.Name)]
public sealed class ChatToolsTests(ApiFixture fixture)
{
    private const string Model = "aurous-grow-2.0-pro";

    private const string WeatherSchema = """
        {"type":"object","properties":{"city":{"type":"string","description":"City name","maxLength":24},
         "days":{"type":"integer"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},
         "required":["city","days","unit"],"additionalProperties":false}
        """;

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Forecast for a city", BinaryData.FromString(WeatherSchema), functionSchemaIsStrict: true);
    private static readonly ChatTool Time = ChatTool.CreateFunctionTool("get_time", "The current time");

    private ChatClient Sdk(string key) => new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.System.ApiV1 }).GetChatClient(Model);

    private static ChatCompletionOptions Options(ChatToolChoice? choice, long seed = 7, int max = 300)
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = max, Temperature = 0.8f, Seed = seed, ToolChoice = choice };
        options.Tools.Add(Weather);
        options.Tools.Add(Time);
        return options;
    }

    private static readonly ChatMessage[] Question = [new UserChatMessage("What will the weather be in Oslo for the next 3 days?")];

    /// <summary>The arguments parse and validate against the declared parameters.</summary>
    private static void ShouldValidate(string name, string arguments)
    {
        var args = JsonDocument.Parse(arguments).RootElement;
        args.ValueKind.ShouldBe(JsonValueKind.Object, arguments);
        if (name == "get_time")
        {
            args.EnumerateObject().ShouldBeEmpty(arguments);
            return;
        }
        name.ShouldBe("get_weather");
        args.EnumerateObject().Select(p => p.Name).ShouldBe(["city", "days", "unit"], arguments);
        args.GetProperty("city").ValueKind.ShouldBe(JsonValueKind.String, arguments);
        args.GetProperty("city").GetString()!.Length.ShouldBeLessThanOrEqualTo(24);
        args.GetProperty("days").TryGetInt64(out _).ShouldBeTrue(arguments);
        args.GetProperty("unit").GetString().ShouldBeOneOf("celsius", "fahrenheit");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Required_returns_tool_calls_whose_arguments_validate_and_is_charged_exactly(long seed)
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);

        var completion = (await Sdk(key).CompleteChatAsync(Question, Options(ChatToolChoice.CreateRequiredChoice(), seed))).Value;

        completion.FinishReason.ShouldBe(ChatFinishReason.ToolCalls);
        completion.Content.ShouldBeEmpty();
        completion.ToolCalls.ShouldNotBeEmpty();
        completion.ToolCalls.Select(c => c.Id).ShouldBeUnique();
        foreach (var call in completion.ToolCalls)
        {
            call.Id.ShouldMatch("^call_[A-Za-z0-9]{24}$");
            call.Kind.ShouldBe(ChatToolCallKind.Function);
            ShouldValidate(call.FunctionName, call.FunctionArguments.ToString());
        }

        var expected = completion.Usage.InputTokenCount * 0.21m / 1_000_000m + completion.Usage.OutputTokenCount * 0.84m / 1_000_000m;
        using var http = fixture.System.CreateApiClient(key);
        var balance = await http.GetFromJsonAsync<JsonElement>("/v1/balance");
        balance.GetProperty("credits").GetDecimal().ShouldBe(10m - expected);
        balance.GetProperty("held_credits").GetDecimal().ShouldBe(0m);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 1);

        // The stored completion keeps the calls.
        var stored = await http.GetFromJsonAsync<JsonElement>($"/v1/chat/completions/{completion.Id}");
        var choice = stored.GetProperty("choices")[0];
        choice.GetProperty("finish_reason").GetString().ShouldBe("tool_calls");
        choice.GetProperty("message").GetProperty("content").ValueKind.ShouldBe(JsonValueKind.Null);
        choice.GetProperty("message").GetProperty("tool_calls").EnumerateArray().Select(c => c.GetProperty("id").GetString())
            .ShouldBe(completion.ToolCalls.Select(c => c.Id));
    }

    [Fact]
    public async Task A_named_function_choice_calls_only_that_function_and_parallel_false_calls_it_once()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        for (var seed = 4; seed < 7; seed++)
        {
            var options = Options(ChatToolChoice.CreateFunctionChoice("get_weather"), seed);
            options.AllowParallelToolCalls = false;

            var completion = (await Sdk(key).CompleteChatAsync(Question, options)).Value;

            completion.FinishReason.ShouldBe(ChatFinishReason.ToolCalls);
            completion.ToolCalls.Count.ShouldBe(1);
            completion.ToolCalls[0].FunctionName.ShouldBe("get_weather");
            ShouldValidate("get_weather", completion.ToolCalls[0].FunctionArguments.ToString());
        }
    }

    [Fact]
    public async Task None_answers_in_text_with_the_tools_still_in_the_prompt()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);

        var none = (await Sdk(key).CompleteChatAsync(Question, Options(ChatToolChoice.CreateNoneChoice(), max: 24))).Value;
        var plain = (await Sdk(key).CompleteChatAsync(Question, new ChatCompletionOptions { MaxOutputTokenCount = 24, Seed = 7 })).Value;

        none.ToolCalls.ShouldBeEmpty();
        (none.FinishReason is ChatFinishReason.Stop or ChatFinishReason.Length).ShouldBeTrue();
        none.Content.ShouldNotBeEmpty();
        // The function signatures are rendered into the prompt (and billed as input).
        none.Usage.InputTokenCount.ShouldBeGreaterThan(plain.Usage.InputTokenCount + 50);
    }

    [Fact]
    public async Task Auto_answers_with_text_or_with_valid_calls()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        for (var seed = 1; seed <= 3; seed++)
        {
            var completion = (await Sdk(key).CompleteChatAsync(Question, Options(ChatToolChoice.CreateAutoChoice(), seed, max: 40))).Value;
            if (completion.ToolCalls.Count > 0)
            {
                completion.FinishReason.ShouldBe(ChatFinishReason.ToolCalls);
                foreach (var call in completion.ToolCalls)
                {
                    ShouldValidate(call.FunctionName, call.FunctionArguments.ToString());
                }
            }
            else
            {
                (completion.FinishReason is ChatFinishReason.Stop or ChatFinishReason.Length).ShouldBeTrue();
                completion.Content.ShouldNotBeEmpty();
                completion.Content[0].Text.ShouldNotStartWith("<tool_call>");
            }
        }
    }

    [Fact]
    public async Task Streamed_tool_call_deltas_assemble_to_the_same_calls_as_the_sync_answer()
    {
        var (teamId, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        var options = Options(ChatToolChoice.CreateRequiredChoice(), seed: 21);

        var sync = (await Sdk(key).CompleteChatAsync(Question, options)).Value;

        var calls = new SortedDictionary<int, (string? Id, string? Name, StringBuilder Arguments)>();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in Sdk(key).CompleteChatStreamingAsync(Question, Options(ChatToolChoice.CreateRequiredChoice(), seed: 21)))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                if (!calls.TryGetValue(part.Index, out var call))
                {
                    part.ToolCallId.ShouldNotBeNullOrEmpty(); // the first delta of a call names it
                    part.FunctionName.ShouldNotBeNullOrEmpty();
                    calls[part.Index] = call = (part.ToolCallId, part.FunctionName, new StringBuilder());
                }
                else
                {
                    part.ToolCallId.ShouldBeNull();
                }
                call.Arguments.Append(part.FunctionArgumentsUpdate?.ToString());
            }
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        finish.ShouldBe(ChatFinishReason.ToolCalls);
        calls.Values.Select(c => (c.Name, c.Arguments.ToString())).ShouldBe(sync.ToolCalls.Select(c => ((string?)c.FunctionName, c.FunctionArguments.ToString())));
        calls.Values.ShouldAllBe(c => c.Id!.StartsWith("call_"));
        usage.ShouldNotBeNull();
        usage.OutputTokenCount.ShouldBe(sync.Usage.OutputTokenCount);
        await Ledger.ShouldReconcileAsync(fixture.System.Database, teamId, expectedReceipts: 2);
    }

    [Fact]
    public async Task Tool_results_are_accepted_on_the_next_turn()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 10m);
        var first = (await Sdk(key).CompleteChatAsync(Question, Options(ChatToolChoice.CreateRequiredChoice(), seed: 9))).Value;
        first.ToolCalls.ShouldNotBeEmpty();

        List<ChatMessage> conversation = [.. Question, new AssistantChatMessage(first)];
        conversation.AddRange(first.ToolCalls.Select(c => new ToolChatMessage(c.Id, """{"forecast":"sunny","high":21}""")));
        var second = (await Sdk(key).CompleteChatAsync(conversation, Options(ChatToolChoice.CreateNoneChoice(), seed: 9, max: 24))).Value;

        second.ToolCalls.ShouldBeEmpty();
        second.Content.ShouldNotBeEmpty();
        second.Usage.InputTokenCount.ShouldBeGreaterThan(first.Usage.InputTokenCount + first.Usage.OutputTokenCount - 20);
    }

    [Fact]
    public async Task Parameter_schemas_outside_the_supported_subset_are_a_clear_400_that_costs_nothing()
    {
        var (_, key) = await fixture.System.CreateTeamAsync(credits: 5m);
        var options = new ChatCompletionOptions();
        options.Tools.Add(ChatTool.CreateFunctionTool("f", null, BinaryData.FromString("""{"type":"object","properties":{"when":{"type":"string","format":"date-time"}}}""")));

        var error = await Should.ThrowAsync<ClientResultException>(() => Sdk(key).CompleteChatAsync(Question, options));

        error.Status.ShouldBe(400);
        using var body = JsonDocument.Parse(error.GetRawResponse()!.Content.ToString());
        body.RootElement.GetProperty("error").GetProperty("code").GetString().ShouldBe("unsupported_schema");
        body.RootElement.GetProperty("error").GetProperty("message").GetString()!.ShouldContain("tools[0].function.parameters.properties.when.format");
        using var http = fixture.System.CreateApiClient(key);
        (await http.GetFromJsonAsync<JsonElement>("/v1/balance")).GetProperty("credits").GetDecimal().ShouldBe(5m);
    }
}
