namespace Aurous.Api.Generation;

/// <summary>Image and video jobs as the API accepts them (section <c>Generation</c>).</summary>
public sealed class GenerationOptions
{
    public const string Section = "Generation";

    /// <summary>A job not started within this long after it was accepted ends 'expired', its hold released.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromHours(1);
}
