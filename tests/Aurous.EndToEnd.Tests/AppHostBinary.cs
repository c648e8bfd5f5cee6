namespace Aurous.EndToEnd.Tests;

/// <summary>The AppHost's own build output (this test assembly's folder has the test's dependencies, not the AppHost's).</summary>
internal static class AppHostBinary
{
    public static string Path { get; } = Locate();

    private static string Locate()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        var repo = testBin;
        while (!File.Exists(System.IO.Path.Combine(repo.FullName, "Aurous.sln")))
        {
            repo = repo.Parent ?? throw new DirectoryNotFoundException("Aurous.sln not found above " + testBin.FullName);
        }
        // bin/<Configuration>/<TargetFramework>/, the same for both projects.
        return System.IO.Path.Combine(repo.FullName, "src", "Aurous.AppHost", "bin", testBin.Parent!.Name, testBin.Name, "Aurous.AppHost.dll");
    }
}
