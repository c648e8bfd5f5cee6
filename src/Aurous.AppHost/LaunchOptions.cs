namespace Aurous.AppHost;

/// <summary>
/// The AppHost's own switches, taken out of the arguments before Aspire reads the rest as configuration:
/// <c>--fresh</c> wipes local state, <c>--no-dashboard</c> runs headless, <c>--dynamic-ports</c> lets every resource
/// take a free port (several copies side by side), <c>--home DIR</c> keeps state elsewhere than <c>.aurous/</c>
/// (configuration <c>Aurous:Home</c>), <c>--api-replicas N</c> runs N API instances (<c>Aurous:ApiReplicas</c>).
/// </summary>
internal sealed record LaunchOptions(string[] Args, bool Fresh, bool NoDashboard)
{
    public static LaunchOptions Parse(string[] args)
    {
        // Ctrl+C and SIGTERM return only once every resource has stopped, so nothing outlives the AppHost and a restart
        // finds its ports free. (Set here rather than in appsettings.json, which is not read when the AppHost is
        // started from another folder.) Arguments given by the user come later and win.
        var rest = new List<string> { "--DcpPublisher:WaitForResourceCleanup=true" };
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--fresh" or "--no-dashboard" or "--dynamic-ports":
                    break;
                case "--home" when i + 1 < args.Length:
                    rest.Add($"--Aurous:Home={args[++i]}");
                    break;
                case "--api-replicas" when i + 1 < args.Length:
                    rest.Add($"--Aurous:ApiReplicas={args[++i]}");
                    break;
                default:
                    rest.Add(args[i]);
                    break;
            }
        }
        if (args.Contains("--dynamic-ports"))
        {
            rest.Add("--DcpPublisher:RandomizePorts=true");
        }
        return new LaunchOptions([.. rest], args.Contains("--fresh"), args.Contains("--no-dashboard"));
    }
}
