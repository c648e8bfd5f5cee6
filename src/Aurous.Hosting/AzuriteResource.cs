namespace Aurous.Hosting;

/// <summary>
/// Azure Blob Storage emulated by Azurite (npm, installed under eng/node by eng/bootstrap.sh), with the well-known
/// development account. Stands in for Aspire.Hosting.Azure.Storage's emulator.
/// </summary>
public sealed class AzuriteResource(string name, int defaultPort) : ProcessResource(name, defaultPort), IResourceWithConnectionString
{
    // The public, documented development-storage account of the Azure emulators.
    private const string Account = "devstoreaccount1";
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint=http://127.0.0.1:{Port}/{Account};";

    protected override (string, IEnumerable<string>, string?) Command(RunContext context)
    {
        var main = Path.Combine(context.Options.RepoRoot, "eng", "node", "node_modules", "azurite", "dist", "src", "blob", "main.js");
        if (!File.Exists(main))
        {
            throw new MissingDependencyException("Azurite (npm azurite 3.35.0)", "eng/bootstrap.sh");
        }
        var node = Which.Find("node") ?? throw new MissingDependencyException("Node.js", "eng/bootstrap.sh");
        var args = new List<string>
        {
            main, "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent",
        };
        if (context.Options.EphemeralStorage)
        {
            args.Add("--inMemoryPersistence");
        }
        else
        {
            var dir = context.StatePath("azurite");
            Directory.CreateDirectory(dir);
            args.AddRange(["--location", dir]);
        }
        return (node, args, null);
    }

    protected override async Task<bool> IsHealthyAsync(CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        // Any answer from the blob service (it rejects this unsigned request) means it is up.
        using var response = await http.GetAsync($"http://127.0.0.1:{Port}/{Account}?comp=list", cancellationToken);
        return (int)response.StatusCode is >= 200 and < 500;
    }
}
