using Aurous.Accounts;
using Aurous.Api.Pipeline;
using Aurous.Persistence;

namespace Aurous.Api.Tests;

public sealed class ApiKeySecretTests
{
    [Fact]
    public void Generated_keys_are_well_formed_and_unique()
    {
        var keys = Enumerable.Range(0, 200).Select(_ => ApiKeySecret.Generate()).ToArray();
        keys.ShouldAllBe(k => ApiKeySecret.IsWellFormed(k));
        keys.ShouldAllBe(k => System.Text.RegularExpressions.Regex.IsMatch(k, "^al_live_[0-9a-f]{64}$"));
        keys.Distinct().Count().ShouldBe(200);
    }

    [Theory]
    [InlineData("")]
    [InlineData("al_live_")]
    [InlineData("al_test_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("al_live_0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("al_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")]
    [InlineData("al_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeff")]
    [InlineData("sk-0123456789abcdef")]
    public void Malformed_keys_are_rejected(string key) => ApiKeySecret.IsWellFormed(key).ShouldBeFalse();

    [Fact]
    public void Hash_is_sha256_of_the_key_text()
    {
        const string key = "al_live_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        ApiKeySecret.Hash(key).ShouldBe(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(key)));
        ApiKeySecret.Hint(key).ShouldBe("al_live_0123…cdef");
    }

    [Fact]
    public void Key_states_decide_usability()
    {
        var now = DateTimeOffset.UtcNow;
        Record(ApiKeyState.Active, null).IsUsableAt(now).ShouldBeTrue();
        Record(ApiKeyState.Rotated, now.AddHours(1)).IsUsableAt(now).ShouldBeTrue();
        Record(ApiKeyState.Rotated, now.AddSeconds(-1)).IsUsableAt(now).ShouldBeFalse();
        Record(ApiKeyState.Revoked, null).IsUsableAt(now).ShouldBeFalse();

        static ApiKeyRecord Record(ApiKeyState state, DateTimeOffset? grace) => new("key_x", "team_x", ["chat"], state, grace, "2026-05-15");
    }
}

public sealed class UlidTests
{
    [Fact]
    public void Ulids_are_26_crockford_chars_and_sort_by_time()
    {
        var early = Ulid.Create(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000));
        var late = Ulid.Create(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_001));
        early.Length.ShouldBe(26);
        Ulid.IsValid(early).ShouldBeTrue();
        string.CompareOrdinal(early, late).ShouldBeLessThan(0);
        Ulid.NewId("req").ShouldMatch("^req_[0-9A-HJKMNP-TV-Z]{26}$");
    }

    [Fact]
    public void Timestamp_is_encoded_big_endian_in_the_first_ten_chars()
    {
        // 2^45 ms = 1 followed by nine zeros in base 32.
        Ulid.Create(DateTimeOffset.FromUnixTimeMilliseconds(1L << 45))[..10].ShouldBe("1000000000");
        Enumerable.Range(0, 1000).Select(_ => Ulid.NewUlid()).Distinct().Count().ShouldBe(1000);
    }

    [Fact]
    public async Task Ids_made_on_many_threads_at_once_never_repeat_their_random_part()
    {
        // Each thread draws its random bytes in blocks: ids of the same millisecond must still all differ.
        var time = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
        var perThread = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            Enumerable.Range(0, 5_000).Select(_ => Ulid.Create(time)).ToArray())));

        var all = perThread.SelectMany(ids => ids).ToArray();
        var stamp = all[0].Substring(0, 10);
        all.ShouldAllBe(id => Ulid.IsValid(id) && id.StartsWith(stamp, StringComparison.Ordinal));
        all.Select(id => id[10..]).Distinct().Count().ShouldBe(40_000);
    }
}

public sealed class ApiVersionsTests
{
    [Theory]
    [InlineData("2026-05-15", "2026-05-15")]
    [InlineData("2026-11-01", "2026-05-15")]
    [InlineData("2099-01-01", "2026-05-15")]
    public void A_date_selects_the_newest_version_released_on_or_before_it(string requested, string expected)
    {
        ApiVersions.TryResolve(requested, out var version).ShouldBe(ApiVersions.Outcome.Resolved);
        version.ShouldBe(expected);
    }

    [Theory]
    [InlineData("2026-5-15")]
    [InlineData("2026-02-30")]
    [InlineData("latest")]
    [InlineData("20260515")]
    [InlineData("")]
    public void Malformed_versions_are_rejected(string requested) =>
        ApiVersions.TryResolve(requested, out _).ShouldBe(ApiVersions.Outcome.Malformed);

    [Fact]
    public void Dates_before_the_first_release_are_rejected() =>
        ApiVersions.TryResolve("2025-01-01", out _).ShouldBe(ApiVersions.Outcome.BeforeFirstRelease);
}
