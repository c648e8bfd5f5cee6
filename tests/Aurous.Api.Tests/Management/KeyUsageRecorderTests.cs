using Aurous.Accounts;

namespace Aurous.Api.Tests.Management;

/// <summary>The batch writer behind last_used_at, against the real database.</summary>
[Collection(ManagementCollection.Name)]
public sealed class KeyUsageRecorderTests(ManagementFixture fixture)
{
    [Fact]
    public async Task A_flush_writes_each_key_once_with_its_latest_use_and_never_moves_it_back()
    {
        var (teamId, _) = await fixture.TeamAsync();
        var keys = new ApiKeyStore(fixture.System.Database);
        var (a, _) = await keys.CreateAsync(teamId, "a");
        var (b, _) = await keys.CreateAsync(teamId, "b");
        var recorder = new KeyUsageRecorder(fixture.System.Database);
        var t = new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero);

        recorder.Record(a, t);
        recorder.Record(a, t.AddMinutes(-5));
        recorder.Record(b, t.AddMinutes(-1));
        recorder.PendingCount.ShouldBe(2);
        (await recorder.FlushAsync()).ShouldBe(2);
        recorder.PendingCount.ShouldBe(0);
        (await recorder.FlushAsync()).ShouldBe(0, "nothing new: no statement at all");

        recorder.Record(a, t.AddHours(-1)); // an instance whose batch arrives late
        (await recorder.FlushAsync()).ShouldBe(1);

        (await keys.GetAsync(teamId, a))!.LastUsedAt.ShouldBe(t);
        (await keys.GetAsync(teamId, b))!.LastUsedAt.ShouldBe(t.AddMinutes(-1));
        (await keys.ListAsync(teamId)).Single(k => k.Id == a).LastUsedAt.ShouldBe(t);
    }
}
