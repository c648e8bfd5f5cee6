using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aurous.InferenceWorker.Tests;

/// <summary><c>reasoning_budget</c>: hidden thinking tokens before the visible answer, counted in the done event.</summary>
public sealed class ReasoningTests(ChatFixture fx) : IClassFixture<ChatFixture>
{
    private const string Route = "/internal/chat/completions";

    private sealed record Result(string Text, int Deltas, int CompletionTokens, int ReasoningTokens, string FinishReason);

    private JsonObject Body(int budget, int maxTokens = 40, long seed = 42, bool ignoreEos = true) => new()
    {
        ["model"] = ChatFixture.Model,
        ["prompt_token_ids"] = new JsonArray(fx.Prompt("Think about foxes, then answer.").Select(i => (JsonNode)i).ToArray()),
        ["max_tokens"] = maxTokens,
        ["temperature"] = 1.0,
        ["top_p"] = 1.0,
        ["seed"] = seed,
        ["ignore_eos"] = ignoreEos,
        ["reasoning_budget"] = budget,
    };

    private async Task<Result> RunAsync(JsonNode body)
    {
        using var response = await fx.Worker.PostAsync(Route, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        response.StatusCode.ShouldBe(HttpStatusCode.OK, string.Join('\n', lines));
        var text = new StringBuilder();
        var deltas = 0;
        var counted = 0;
        var progressSeen = 0;
        foreach (var line in lines[..^1])
        {
            var e = JsonDocument.Parse(line).RootElement;
            var type = e.GetProperty("type").GetString();
            // Hidden reasoning shows up only as running token counts; text comes in deltas, never in progress lines.
            type.ShouldBeOneOf("delta", "progress");
            var running = e.GetProperty("completion_tokens").GetInt32();
            running.ShouldBeGreaterThanOrEqualTo(counted);
            counted = running;
            if (type == "progress")
            {
                e.TryGetProperty("text", out _).ShouldBeFalse();
                progressSeen = running;
                continue;
            }
            text.Append(e.GetProperty("text").GetString());
            deltas++;
        }
        var done = JsonDocument.Parse(lines[^1]).RootElement;
        done.GetProperty("type").GetString().ShouldBe("done");
        progressSeen.ShouldBeLessThanOrEqualTo(done.GetProperty("reasoning_tokens").GetInt32());
        counted.ShouldBeLessThanOrEqualTo(done.GetProperty("completion_tokens").GetInt32());
        return new Result(text.ToString(), deltas, done.GetProperty("completion_tokens").GetInt32(),
            done.GetProperty("reasoning_tokens").GetInt32(), done.GetProperty("finish_reason").GetString()!);
    }

    [Fact]
    public async Task A_budget_changes_the_answer_and_reports_its_reasoning_tokens()
    {
        var plain = await RunAsync(Body(budget: 0, maxTokens: 40 + 64));
        var reasoned = await RunAsync(Body(budget: 64, maxTokens: 40 + 64));

        plain.ReasoningTokens.ShouldBe(0);
        plain.CompletionTokens.ShouldBe(104);
        reasoned.ReasoningTokens.ShouldBeInRange(1, 64);
        reasoned.Text.ShouldNotBe(plain.Text);
        reasoned.Text.ShouldNotBeEmpty();
        // completion_tokens includes the reasoning; max_tokens bounds both together.
        reasoned.CompletionTokens.ShouldBe(104);
        reasoned.FinishReason.ShouldBe("length");
        reasoned.Text.ShouldNotContain("<think>");
    }

    [Fact]
    public async Task Reasoning_is_never_streamed_as_deltas()
    {
        // max_tokens = budget: every token is spent reasoning, so nothing visible may come out.
        var result = await RunAsync(Body(budget: 64, maxTokens: 64));

        result.ReasoningTokens.ShouldBeInRange(1, 64);
        if (result.ReasoningTokens == 64)
        {
            result.Deltas.ShouldBe(0);
            result.Text.ShouldBeEmpty();
            result.CompletionTokens.ShouldBe(64);
            result.FinishReason.ShouldBe("length");
        }
        else
        {
            // The model closed its reasoning early: the rest is the visible answer.
            result.CompletionTokens.ShouldBe(64);
            result.Text.ShouldNotContain("</think>");
        }
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_reasoning_and_answer()
    {
        var a = await RunAsync(Body(budget: 64, maxTokens: 100, seed: 77, ignoreEos: false));
        var b = await RunAsync(Body(budget: 64, maxTokens: 100, seed: 77, ignoreEos: false));
        var c = await RunAsync(Body(budget: 64, maxTokens: 100, seed: 78, ignoreEos: false));

        b.ShouldBe(a);
        a.ReasoningTokens.ShouldBeInRange(1, 64);
        (c.Text != a.Text || c.ReasoningTokens != a.ReasoningTokens).ShouldBeTrue();
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1_000_000)]
    public async Task An_out_of_range_budget_is_refused(int budget)
    {
        using var response = await fx.Worker.PostAsync(Route, new StringContent(Body(budget).ToJsonString(), Encoding.UTF8, "application/json"));

        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await response.Content.ReadAsStringAsync()).ShouldContain("reasoning_budget");
    }
}
