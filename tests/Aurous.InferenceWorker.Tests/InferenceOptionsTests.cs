using Aurous.InferenceWorker.Generation;
using Aurous.InferenceWorker.Media;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker.Tests;

public sealed class InferenceOptionsTests
{
    [Theory]
    [InlineData(null, RequestedProvider.Auto)]
    [InlineData("", RequestedProvider.Auto)]
    [InlineData("AUTO", RequestedProvider.Auto)]
    [InlineData("cpu", RequestedProvider.Cpu)]
    [InlineData(" cuda ", RequestedProvider.Cuda)]
    [InlineData("gpu", RequestedProvider.Cuda)]
    public void Execution_provider_setting_is_parsed(string? value, RequestedProvider expected) =>
        InferenceOptions.ParseProvider(value).ShouldBe(expected);

    [Fact]
    public void An_unknown_execution_provider_is_a_clear_error() =>
        Should.Throw<InvalidOperationException>(() => InferenceOptions.ParseProvider("tpu"))
            .Message.ShouldContain("'auto', 'cpu' or 'cuda'");

    [Fact]
    public void Settings_are_bound_from_their_sections()
    {
        using var services = WorkerSettings.Services(
            ("Models:Path", "/srv/models"), ("Inference:ExecutionProvider", " CPU "), ("Inference:MaxBatchSize", "8"),
            ("Media:DecodeTimeoutSeconds", "2.5"), ("Media:FfmpegPath", "/opt/ffmpeg"), ("Generation:VideoCrf", "30"));

        var inference = services.GetRequiredService<InferenceOptions>();
        inference.ModelsPath.ShouldBe("/srv/models");
        inference.ExecutionProvider.ShouldBe(RequestedProvider.Cpu);
        inference.MaxBatchSize.ShouldBe(8);
        var media = services.GetRequiredService<MediaOptions>();
        media.DecodeTimeout.ShouldBe(TimeSpan.FromSeconds(2.5));
        media.FfmpegPath.ShouldBe("/opt/ffmpeg");
        media.FfprobePath.ShouldBe("ffprobe");
        services.GetRequiredService<GenerationOptions>().VideoCrf.ShouldBe(30);
    }

    [Fact]
    public void Unset_settings_keep_their_defaults()
    {
        using var services = WorkerSettings.Services();

        services.GetRequiredService<InferenceOptions>().ShouldBe(new InferenceOptions());
        services.GetRequiredService<MediaOptions>().ShouldBe(new MediaOptions());
        services.GetRequiredService<GenerationOptions>().ShouldBe(new GenerationOptions());
    }

    [Theory]
    [InlineData("Inference:MaxBatchSize", "0", "Inference:MaxBatchSize must be a positive number, not 0.")]
    [InlineData("Inference:DecodeIntraOpThreads", "-1", "Inference:DecodeIntraOpThreads must be 0 or more.")]
    public async Task A_bad_setting_stops_the_worker_at_start_up_and_names_the_setting(string key, string value, string message)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new(key, value)]);
        builder.Services.AddWorkerOptions();
        using var host = builder.Build();

        var error = await Should.ThrowAsync<OptionsValidationException>(() => host.StartAsync());

        error.Message.ShouldContain(message);
    }

    [Fact]
    public void A_decode_thread_count_is_read_from_its_setting() =>
        WorkerSettings.Services(("Inference:DecodeIntraOpThreads", "2")).GetRequiredService<InferenceOptions>().DecodeIntraOpThreads.ShouldBe(2);

    [Fact]
    public async Task An_unknown_execution_provider_stops_the_worker_at_start_up()
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection([new("Inference:ExecutionProvider", "tpu")]);
        builder.Services.AddWorkerOptions();
        using var host = builder.Build();

        var error = await Should.ThrowAsync<InvalidOperationException>(() => host.StartAsync());

        error.ToString().ShouldContain("Inference:ExecutionProvider must be 'auto', 'cpu' or 'cuda', not 'tpu'.");
    }
}

/// <summary>The worker's options as the worker registers them, over the given settings.</summary>
internal static class WorkerSettings
{
    public static ServiceProvider Services(params (string Key, string? Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        return new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddWorkerOptions().BuildServiceProvider();
    }
}
