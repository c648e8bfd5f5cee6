using Aurous.InferenceWorker.Generation;
using Aurous.InferenceWorker.Media;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker;

public static class WorkerOptionsExtensions
{
    /// <summary>
    /// The worker's settings, one options class per concern (<see cref="InferenceOptions"/>, <see cref="MediaOptions"/>,
    /// <see cref="GenerationOptions"/>), bound from configuration and validated when the host starts: a bad value stops
    /// the worker with a message that names the setting. Each is also registered as itself, for the services that take it.
    /// </summary>
    public static IServiceCollection AddWorkerOptions(this IServiceCollection services)
    {
        services.AddValidatedOptions<InferenceOptions, InferenceOptionsValidator>(InferenceOptions.Section)
            .Configure<IConfiguration>((options, configuration) => options.ModelsPath = configuration["Models:Path"]);
        services.AddValidatedOptions<MediaOptions, MediaOptionsValidator>(MediaOptions.Section);
        services.AddValidatedOptions<GenerationOptions, GenerationOptionsValidator>(GenerationOptions.Section);
        return services;
    }

    private static OptionsBuilder<TOptions> AddValidatedOptions<TOptions, TValidator>(this IServiceCollection services, string section)
        where TOptions : class
        where TValidator : class, IValidateOptions<TOptions>
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TOptions>, TValidator>());
        services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<TOptions>>().Value);
        // Bound when first resolved (not here), so that test hosts can still override configuration.
        return services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
    }
}
