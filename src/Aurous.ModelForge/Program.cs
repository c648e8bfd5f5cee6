using Microsoft.Extensions.Logging;

namespace Aurous.ModelForge;

/// <summary>Generates the missing files of the forge-generated models in <c>--models DIR</c> (or <c>Models__Path</c>), then exits.</summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        using var loggers = LoggerFactory.Create(logging => logging.AddSimpleConsole(console => console.SingleLine = true));
        return ForgeCommand.Run(ForgeCommand.Configuration(args), loggers.CreateLogger("Aurous.ModelForge"));
    }
}
