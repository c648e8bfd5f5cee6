using Aurous.Accounts;
using Aurous.Dashboard.Components.Pages.Keys;
using Bunit;

namespace Aurous.Dashboard.Tests.Components;

/// <summary>The key table: the status of each key (with the grace end and countdown of a rotated one) and the manage
/// buttons only for owners and admins, only on keys that can still be rotated or revoked.</summary>
public sealed class KeyTableTests : BunitContext
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static ApiKeySummary Key(string id, string name, ApiKeyState state, DateTimeOffset? graceUntil = null) => new(
        id, "team_a", name, "ak_live_ab…wxyz", [ApiKeyScopes.Chat, ApiKeyScopes.Embeddings], state, Now.AddDays(-2),
        LastUsedAt: null, graceUntil, RotatedAt: graceUntil?.AddHours(-24), RevokedAt: state == ApiKeyState.Revoked ? Now.AddHours(-1) : null,
        ReplacedBy: null, CreatedBy: "usr_1");

    private static readonly IReadOnlyList<ApiKeySummary> Keys =
    [
        Key("key_active", "Production", ApiKeyState.Active),
        Key("key_rotated", "Old production", ApiKeyState.Rotated, Now.AddHours(23).AddMinutes(59).AddSeconds(30)),
        Key("key_revoked", "Leaked", ApiKeyState.Revoked),
        Key("key_expired", "Ancient", ApiKeyState.Rotated, Now.AddMinutes(-1)),
    ];

    private IRenderedComponent<KeyTable> RenderTable(bool canManage, Action<ApiKeySummary>? onRevoke = null, Action<ApiKeySummary>? onRotate = null) =>
        Render<KeyTable>(p => p
            .Add(t => t.Keys, Keys)
            .Add(t => t.Now, Now)
            .Add(t => t.CanManage, canManage)
            .Add(t => t.OnRevoke, onRevoke ?? (_ => { }))
            .Add(t => t.OnRotate, onRotate ?? (_ => { })));

    private static string StatusCell(IRenderedComponent<KeyTable> table, string keyId) =>
        table.Find($"tr[data-key-id='{keyId}']").QuerySelectorAll("td")[5].TextContent;

    [Fact]
    public void Each_key_shows_its_status_and_a_rotated_key_its_grace_end_and_countdown()
    {
        var table = RenderTable(canManage: false);

        StatusCell(table, "key_active").Trim().ShouldBe("Active");
        StatusCell(table, "key_revoked").Trim().ShouldBe("Revoked");
        StatusCell(table, "key_expired").Trim().ShouldBe("Expired");
        var rotated = table.Find("tr[data-key-id='key_rotated']");
        rotated.QuerySelectorAll("td")[5].TextContent.ShouldStartWith("Rotated");
        rotated.QuerySelector("[data-testid='grace-countdown']")!.TextContent.ShouldBe("23 h 59 m left");
        var until = rotated.QuerySelectorAll("td")[5].QuerySelector("time")!;
        until.TextContent.ShouldBe("2026-12-04 11:59");
        until.GetAttribute("datetime").ShouldBe("2026-12-04T11:59:30Z");
        table.FindAll("[data-testid='grace-countdown']").Count.ShouldBe(1);
        // The key column shows the hint only.
        table.Find("tr[data-key-id='key_active']").QuerySelectorAll("td")[1].TextContent.ShouldBe("ak_live_ab…wxyz");
    }

    [Fact]
    public void Members_get_no_manage_buttons_at_all()
    {
        var table = RenderTable(canManage: false);

        table.FindAll("button").ShouldBeEmpty();
        table.FindAll("th").Count.ShouldBe(6);
    }

    [Fact]
    public void Managers_can_rotate_active_keys_and_revoke_keys_that_still_work()
    {
        var table = RenderTable(canManage: true);

        Labels(table, "key_active").ShouldBe(["Rotate Production", "Revoke Production"]);
        Labels(table, "key_rotated").ShouldBe(["Revoke Old production"]);
        Labels(table, "key_revoked").ShouldBeEmpty();
        Labels(table, "key_expired").ShouldBeEmpty();
    }

    [Fact]
    public void The_row_buttons_hand_their_own_key_to_the_page()
    {
        ApiKeySummary? revoked = null, rotated = null;
        var table = RenderTable(canManage: true, onRevoke: k => revoked = k, onRotate: k => rotated = k);

        table.Find("button[aria-label='Revoke Old production']").Click();
        table.Find("button[aria-label='Rotate Production']").Click();

        revoked!.Id.ShouldBe("key_rotated");
        rotated!.Id.ShouldBe("key_active");
    }

    [Fact]
    public void Buttons_stay_disabled_until_the_page_is_interactive()
    {
        var table = Render<KeyTable>(p => p.Add(t => t.Keys, Keys).Add(t => t.Now, Now).Add(t => t.CanManage, true).Add(t => t.Interactive, false));

        table.FindAll("button").ShouldNotBeEmpty();
        table.FindAll("button").ShouldAllBe(b => b.HasAttribute("disabled"));
    }

    private static string[] Labels(IRenderedComponent<KeyTable> table, string keyId) =>
        table.Find($"tr[data-key-id='{keyId}']").QuerySelectorAll("button").Select(b => b.GetAttribute("aria-label")!).ToArray();
}
