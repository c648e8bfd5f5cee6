using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Aurous.Inference.Contracts;

namespace Aurous.InferenceWorker.Tests;

/// <summary>
/// The worker as its own process (this test assembly's copy of Aurous.InferenceWorker.dll), so that its memory can be
/// measured apart from the test host: resident set now (<c>VmRSS</c>) and its peak since <see cref="ResetPeak"/>
/// (<c>VmHWM</c>, reset through <c>/proc/PID/clear_refs</c>). Linux only.
/// </summary>
public sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private WorkerProcess(Process process, Uri address)
    {
        _process = process;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(5) };
        Client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(InternalApiKeyOptions.Scheme, TestWorker.InternalApiKey);
    }

    public HttpClient Client { get; }
    public int Id => _process.Id;

    /// <summary>Starts the worker with <paramref name="settings"/> (configuration keys) and waits until its models are loaded.</summary>
    public static async Task<WorkerProcess> StartAsync(string modelsPath, IReadOnlyDictionary<string, string> settings)
    {
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Aurous.InferenceWorker.dll")])
        {
            WorkingDirectory = AppContext.BaseDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["Models__Path"] = modelsPath;
        start.Environment["InternalApi__Key"] = TestWorker.InternalApiKey;
        start.Environment["Inference__ExecutionProvider"] = "cpu";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("the worker did not start");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var worker = new WorkerProcess(process, new Uri($"http://127.0.0.1:{port}"));
        var deadline = DateTime.UtcNow.AddMinutes(2);
        while (true)
        {
            try
            {
                var status = JsonDocument.Parse(await worker.Client.GetStringAsync("/v1/info")).RootElement.GetProperty("status").GetString();
                if (status != "loading")
                {
                    status.ShouldBe("ready");
                    return worker;
                }
            }
            catch (HttpRequestException) when (!process.HasExited && DateTime.UtcNow < deadline)
            {
            }
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                await worker.DisposeAsync();
                throw new InvalidOperationException("the worker process did not become ready");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>Resident memory now, in bytes.</summary>
    public long ResidentBytes => Status("VmRSS");

    /// <summary>The largest resident memory since the last <see cref="ResetPeak"/>, in bytes.</summary>
    public long PeakResidentBytes => Status("VmHWM");

    /// <summary>Starts the peak (<see cref="PeakResidentBytes"/>) again from the current resident memory.</summary>
    public void ResetPeak() => File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");

    private long Status(string field)
    {
        foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
            }
        }
        throw new InvalidOperationException($"/proc/{_process.Id}/status has no {field}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
