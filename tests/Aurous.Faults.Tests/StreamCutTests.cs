using Aurous.Testing;
using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;
using Xunit.Abstractions;

namespace Aurous.Faults.Tests;

/// <summary>Clients (the OpenAI SDK) that hang up on their streams after a few chunks: each pays for what was produced, no hold stays open.</summary>
[Collection(FaultCollection.Name)]
public sealed class StreamCutTests(FaultSystem fixture, ITestOutputHelper output)
{
    // The schema forces thousands of tokens, so every stream is still running when its client hangs up.
    private static readonly ChatCompletionOptions Options = new()
    {
        MaxOutputTokenCount = 100_000,
        ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("numbers", BinaryData.FromString(
            """{"type":"object","properties":{"n":{"type":"array","items":{"type":"integer"},"minItems":1024}},"required":["n"],"additionalProperties":false}"""),
            jsonSchemaIsStrict: true),
    };

    [Fact]
    public async Task Streams_cut_mid_flight_are_each_charged_for_what_was_produced_and_leave_no_hold()
    {
        var system = fixture.System;
        await system.EnsureHealthyAsync("inference-worker");
        var (teamId, key) = await system.CreateTeamAsync(credits: 200m);
        await system.SetLimitsAsync(teamId, rpm: 1_000_000, tpm: 100_000_000);
        var chat = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = system.ApiV1, RetryPolicy = new ClientRetryPolicy(0) })
            .GetChatClient("aurous-grow-2.0-pro");
        var count = FaultScale.Pick(fast: 10, full: 30);
        var started = System.Diagnostics.Stopwatch.StartNew();

        var cuts = await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            using var hangUp = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var chunks = 0;
            try
            {
                await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage($"Count, number {i}.")], Options, hangUp.Token))
                {
                    if (update.ContentUpdate.Count > 0 && ++chunks == 3)
                    {
                        await hangUp.CancelAsync();
                    }
                }
            }
            catch (OperationCanceledException) when (chunks >= 3)
            {
                return chunks;
            }
            return -chunks; // ran to its end: the cut did not happen mid-flight
        })));
        cuts.ShouldAllBe(c => c == 3);

        var books = await LedgerAudit.SettledAsync(system.Database, teamId, TimeSpan.FromSeconds(30));
        books.Receipts.ShouldBe(count);
        books.Charged.ShouldBeGreaterThan(0m);
        FaultSummary.Record(output, system, $"cut {count} SSE streams after 3 chunks: {books.Receipts} charged for what was produced " +
            $"({books.Charged / count:0.######} credits each on average), settled in {started.Elapsed.TotalSeconds:0.0} s; {books}");
    }
}
