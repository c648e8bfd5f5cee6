using Aurous.Testing;

namespace Aurous.Api.Tests;

/// <summary>docs/configuration.md names every setting the API's options classes bind (its own, the ledger's, the jobs' and webhooks').</summary>
public sealed class ConfigurationDocTests
{
    [Fact]
    public void Every_setting_of_the_API_is_in_the_configuration_doc()
    {
        var assemblies = new[]
        {
            typeof(Aurous.Api.Metering.MeteringOptions).Assembly, typeof(Aurous.Accounts.CreditCommitOptions).Assembly,
            typeof(Aurous.Jobs.JobRunnerOptions).Assembly, typeof(Aurous.Inference.Contracts.InternalApiKeyOptions).Assembly,
        };

        ConfigurationDoc.KeysOf(assemblies).ShouldContain("Metering:IdempotencyLease");
        ConfigurationDoc.KeysOf(assemblies).ShouldContain("Webhooks:RetryWindow");
        ConfigurationDoc.Undocumented(assemblies).ShouldBeEmpty();
    }
}
