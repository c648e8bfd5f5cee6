using Aurous.Testing;

namespace Aurous.Dashboard.Tests;

/// <summary>docs/configuration.md names every setting the dashboard's options classes bind.</summary>
public sealed class ConfigurationDocTests
{
    [Fact]
    public void Every_setting_of_the_dashboard_is_in_the_configuration_doc()
    {
        var assemblies = new[] { typeof(Aurous.Dashboard.Identity.SignInLimitOptions).Assembly, typeof(Aurous.Jobs.JobRunnerOptions).Assembly };

        ConfigurationDoc.KeysOf(assemblies).ShouldContain("SignIn:AttemptsPerMinute");
        ConfigurationDoc.KeysOf(assemblies).ShouldContain("Seed:Email");
        ConfigurationDoc.Undocumented(assemblies).ShouldBeEmpty();
    }
}
