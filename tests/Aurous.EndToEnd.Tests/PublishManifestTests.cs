using System.Diagnostics;
using System.Text.Json;

namespace Aurous.EndToEnd.Tests;

/// <summary>
/// The Aspire manifest that azd deploys from: in publish mode the stores are connection strings supplied at deploy
/// time (no local executables), and every service gets the references it has locally.
/// </summary>
public sealed class PublishManifestTests : IDisposable
{
    private readonly string _output = Directory.CreateTempSubdirectory("aurous-manifest-").FullName;

    public void Dispose() => Directory.Delete(_output, recursive: true);

    [Fact]
    public async Task The_manifest_has_every_resource_and_reference()
    {
        var path = Path.Combine(_output, "aspire-manifest.json");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { AppHostBinary.Path, "--publisher", "manifest", "--output-path", path })
        {
            psi.ArgumentList.Add(arg);
        }
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        await process.WaitForExitAsync(timeout.Token);
        process.ExitCode.ShouldBe(0, await output + await errors);

        var resources = JsonDocument.Parse(await File.ReadAllTextAsync(path)).RootElement.GetProperty("resources");
        resources.EnumerateObject().Select(r => r.Name).ShouldBe(
            ["postgres", "redis", "blobs", "internal-api-key", "migrations", "inference-worker", "api", "operator-email", "operator-password", "dashboard"], ignoreOrder: true);

        foreach (var store in new[] { "postgres", "redis", "blobs" })
        {
            var resource = resources.GetProperty(store);
            resource.GetProperty("type").GetString().ShouldBe("parameter.v0");
            resource.GetProperty("connectionString").GetString().ShouldBe($"{{{store}.value}}");
        }
        resources.GetProperty("internal-api-key").GetProperty("inputs").GetProperty("value").GetProperty("secret").GetBoolean().ShouldBeTrue();
        resources.GetProperty("operator-password").GetProperty("inputs").GetProperty("value").GetProperty("secret").GetBoolean().ShouldBeTrue();

        Env(resources, "migrations").ShouldContainKeyAndValue("ConnectionStrings__postgres", "{postgres.connectionString}");
        var worker = Env(resources, "inference-worker");
        worker.ShouldContainKeyAndValue("InternalApi__Key", "{internal-api-key.value}");
        // The worker runs the job servers: database, blobs, and the API's address for output links.
        worker.ShouldContainKeyAndValue("ConnectionStrings__postgres", "{postgres.connectionString}");
        worker.ShouldContainKeyAndValue("ConnectionStrings__blobs", "{blobs.connectionString}");
        worker.ShouldContainKeyAndValue("Outputs__PublicBaseUrl", "{api.bindings.http.url}");
        var api = Env(resources, "api");
        api.ShouldContainKeyAndValue("ConnectionStrings__postgres", "{postgres.connectionString}");
        api.ShouldContainKeyAndValue("ConnectionStrings__redis", "{redis.connectionString}");
        api.ShouldContainKeyAndValue("ConnectionStrings__blobs", "{blobs.connectionString}");
        api.ShouldContainKeyAndValue("services__inference-worker__http__0", "{inference-worker.bindings.http.url}");
        api.ShouldContainKeyAndValue("InternalApi__Key", "{internal-api-key.value}");
        var dashboard = Env(resources, "dashboard");
        dashboard.ShouldContainKeyAndValue("ConnectionStrings__postgres", "{postgres.connectionString}");
        dashboard.ShouldContainKeyAndValue("services__api__http__0", "{api.bindings.http.url}");
        // Published, the dashboard seeds one platform operator from the deployment's parameters.
        dashboard.ShouldContainKeyAndValue("Seed__Email", "{operator-email.value}");
        dashboard.ShouldContainKeyAndValue("Seed__Password", "{operator-password.value}");
        dashboard.ShouldContainKeyAndValue("Seed__Operator", "true");
        dashboard.ShouldNotContainKey("Seed__TeamName");

        // Public ingress for the API and the dashboard only; the worker is internal.
        External(resources, "api").ShouldBeTrue();
        External(resources, "dashboard").ShouldBeTrue();
        External(resources, "inference-worker").ShouldBeFalse();
    }

    private static Dictionary<string, string> Env(JsonElement resources, string name) =>
        resources.GetProperty(name).GetProperty("env").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    private static bool External(JsonElement resources, string name) =>
        resources.GetProperty(name).GetProperty("bindings").GetProperty("http").TryGetProperty("external", out var external) && external.GetBoolean();
}
