using System.Diagnostics;

namespace Aurous.Hosting;

/// <summary>Runs a short-lived command to completion; a non-zero exit becomes an exception carrying its output.</summary>
internal static class Sh
{
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = p.StandardError.ReadToEndAsync(cancellationToken);
        await p.WaitForExitAsync(cancellationToken);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} exited with {p.ExitCode}: {(await stderr).Trim()} {(await stdout).Trim()}".Trim());
        }
        return await stdout;
    }
}
