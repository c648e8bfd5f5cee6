using Aurous.Api.Metering;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Aurous.Api.Tests;

public sealed class MeteringOptionsTests
{
    private static MeteringOptions Bind(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build())
            .AddMeteringOptions();
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<MeteringOptions>>().Value;
    }

    [Fact]
    public void Defaults_keep_holds_15_minutes_and_keys_5_and_beat_every_100_seconds()
    {
        var options = Bind([]);
        options.HoldLifetime.ShouldBe(TimeSpan.FromMinutes(15));
        options.IdempotencyLease.ShouldBe(TimeSpan.FromMinutes(5));
        options.Heartbeat.ShouldBe(TimeSpan.FromSeconds(100));
        options.SweepInterval.ShouldBe(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void Settings_bind_from_the_metering_section()
    {
        var options = Bind(new() { ["Metering:HoldLifetime"] = "00:00:03", ["Metering:IdempotencyLease"] = "00:00:02", ["Metering:SweepInterval"] = "00:00:00.5" });
        options.HoldLifetime.ShouldBe(TimeSpan.FromSeconds(3));
        options.Heartbeat.ShouldBe(TimeSpan.FromSeconds(2) / 3);
    }

    [Theory]
    [InlineData("Metering:HoldLifetime", "00:00:00", "HoldLifetime")]
    [InlineData("Metering:IdempotencyLease", "-00:00:01", "IdempotencyLease")]
    [InlineData("Metering:SweepInterval", "00:00:00", "SweepInterval")]
    [InlineData("Metering:HeartbeatInterval", "00:03:00", "at most half")]
    public void Bad_settings_stop_the_start_with_a_message_naming_them(string key, string value, string named)
    {
        var error = Should.Throw<OptionsValidationException>(() => Bind(new() { [key] = value }));
        error.Message.ShouldContain(named);
    }
}
