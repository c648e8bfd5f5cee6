namespace Aurous.Api.Pipeline;

/// <summary>The headers the API reads and writes under its own names.</summary>
public static class AurousHeaders
{
    public const string RequestId = "Aurous-Request-Id";
    public const string Version = "Aurous-Version";
    public const string ApiKey = "X-Api-Key";
}
