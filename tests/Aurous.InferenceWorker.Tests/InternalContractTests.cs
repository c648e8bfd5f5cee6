using System.Text.Json;
using Aurous.Inference.Contracts;

namespace Aurous.InferenceWorker.Tests;

/// <summary>The wire format of the API-worker contract, byte for byte where both sides depend on it.</summary>
public sealed class InternalContractTests
{
    [Fact]
    public void A_chat_request_leaves_out_what_it_does_not_set()
    {
        var request = new InternalChatRequest
        {
            Model = "m", PromptTokenIds = [1, 2], MaxTokens = 8, Temperature = 0, TopP = 1, Stop = [], ReasoningBudget = 0,
        };

        JsonSerializer.Serialize(request, InternalJson.Options).ShouldBe(
            """{"model":"m","prompt_token_ids":[1,2],"max_tokens":8,"temperature":0,"top_p":1,"stop":[],"reasoning_budget":0}""");
    }

    [Fact]
    public void An_error_always_names_its_part_even_when_none_is_to_blame()
    {
        JsonSerializer.Serialize(new InternalErrorResponse(new InternalError("invalid_request", "no")), InternalJson.Options)
            .ShouldBe("""{"error":{"code":"invalid_request","message":"no","part":null}}""");
    }

    [Fact]
    public void Stream_events_carry_only_their_own_members_in_a_fixed_order()
    {
        string Line(InternalChatEvent e) => JsonSerializer.Serialize(e, InternalJson.Options);

        Line(InternalChatEvent.Delta("Hi", 3)).ShouldBe("""{"type":"delta","text":"Hi","completion_tokens":3}""");
        Line(InternalChatEvent.ToolCall(0, "f", "", 4)).ShouldBe("""{"type":"tool_call","index":0,"name":"f","arguments":"","completion_tokens":4}""");
        Line(InternalChatEvent.ToolCall(0, null, "{", 5)).ShouldBe("""{"type":"tool_call","index":0,"arguments":"{","completion_tokens":5}""");
        Line(InternalChatEvent.Progress(6)).ShouldBe("""{"type":"progress","completion_tokens":6}""");
        Line(InternalChatEvent.Done("stop", 10, 7, 2, 12.5)).ShouldBe(
            """{"type":"done","finish_reason":"stop","prompt_tokens":10,"completion_tokens":7,"reasoning_tokens":2,"time_to_first_token_ms":12.5}""");
        Line(InternalChatEvent.Error("generation_failed", "boom")).ShouldBe("""{"type":"error","code":"generation_failed","message":"boom"}""");
    }

    [Fact]
    public void The_worker_refuses_unknown_chat_members_so_drift_shows_at_once()
    {
        Should.Throw<JsonException>(() => JsonSerializer.Deserialize<InternalChatRequest>("""{"model":"m","surprise":1}""", InternalJson.Options));
    }
}
