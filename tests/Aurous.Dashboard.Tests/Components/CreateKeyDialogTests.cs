using Aurous.Accounts;
using Aurous.Dashboard.Components.Pages.Keys;
using Bunit;

namespace Aurous.Dashboard.Tests.Components;

/// <summary>The create-key dialog: a name is required, the inference scopes are ticked by default, and exactly the
/// ticked scopes are handed on.</summary>
public sealed class CreateKeyDialogTests : BunitContext
{
    private readonly List<KeyDraft> _created = [];

    public CreateKeyDialogTests()
    {
        // The dialog opens and closes the <dialog> through a small JS module.
        JSInterop.Mode = JSRuntimeMode.Loose;
    }

    private IRenderedComponent<CreateKeyDialog> Open() =>
        Render<CreateKeyDialog>(p => p.Add(d => d.Open, true).Add(d => d.OnCreate, draft => _created.Add(draft)));

    private static AngleSharp.Dom.IElement Scope(IRenderedComponent<CreateKeyDialog> dialog, string scope)
    {
        var label = dialog.FindAll("label").Single(l => l.TextContent == ApiKeyScopes.Describe(scope));
        return dialog.Find("#" + label.GetAttribute("for"));
    }

    [Fact]
    public void It_is_named_and_offers_every_scope_with_the_inference_ones_ticked()
    {
        var dialog = Open();

        var element = dialog.Find("dialog");
        dialog.Find("#" + element.GetAttribute("aria-labelledby")).TextContent.ShouldBe("Create API key");
        foreach (var scope in ApiKeyScopes.All)
        {
            Scope(dialog, scope).HasAttribute("checked").ShouldBe(ApiKeyScopes.Inference.Contains(scope), scope);
        }
        dialog.FindAll("label").Any(l => l.TextContent == "Name" && dialog.Find("#" + l.GetAttribute("for")).TagName == "INPUT").ShouldBeTrue();
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void A_key_without_a_name_is_refused_with_an_alert(string name)
    {
        var dialog = Open();

        dialog.Find("#key-name").Change(name);
        dialog.Find("form").Submit();

        dialog.Find("[role='alert']").TextContent.ShouldBe("Give the key a name");
        dialog.Find("#key-name").GetAttribute("aria-invalid").ShouldBe("true");
        _created.ShouldBeEmpty();
    }

    [Fact]
    public void Exactly_the_ticked_scopes_and_the_trimmed_name_are_handed_on()
    {
        var dialog = Open();

        dialog.Find("#key-name").Change("  Batch jobs  ");
        Scope(dialog, ApiKeyScopes.Chat).Change(false);
        Scope(dialog, ApiKeyScopes.Videos).Change(false);
        Scope(dialog, ApiKeyScopes.ManagementRead).Change(true);
        dialog.Find("form").Submit();

        _created.Count.ShouldBe(1);
        _created[0].Name.ShouldBe("Batch jobs");
        _created[0].Scopes.ShouldBe([ApiKeyScopes.Embeddings, ApiKeyScopes.Images, ApiKeyScopes.ManagementRead]);
        dialog.FindAll("[role='alert']").ShouldBeEmpty();
    }

    [Fact]
    public void A_key_with_no_scope_is_refused()
    {
        var dialog = Open();

        dialog.Find("#key-name").Change("Nothing");
        foreach (var scope in ApiKeyScopes.Inference)
        {
            Scope(dialog, scope).Change(false);
        }
        dialog.Find("form").Submit();

        dialog.Find("[role='alert']").TextContent.ShouldBe("Choose at least one scope");
        _created.ShouldBeEmpty();
    }
}
