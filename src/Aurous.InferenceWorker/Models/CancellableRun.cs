using Microsoft.ML.OnnxRuntime;

namespace Aurous.InferenceWorker.Models;

/// <summary>
/// ONNX Runtime runs that a <see cref="CancellationToken"/> stops mid-run (through <see cref="RunOptions.Terminate"/>),
/// not only before they start: a client that hangs up during a long prefill or a large image batch frees the core at once.
/// </summary>
internal static class CancellableRun
{
    /// <summary>ONNX Runtime's run option that frees the unused memory of the listed devices' arenas when a run ends.</summary>
    public const string ArenaShrinkageKey = "memory.enable_memory_arena_shrinkage";

    /// <summary>
    /// Runs <paramref name="session"/>; throws <see cref="OperationCanceledException"/> when the token stopped it.
    /// <paramref name="shrinkArenas"/> (e.g. <c>gpu:0</c>): the arenas to shrink at the end of the run;
    /// <paramref name="adapter"/>: a LoRA adapter active for this run only.
    /// </summary>
    public static IDisposableReadOnlyCollection<OrtValue> RunCancellable(this InferenceSession session,
        IReadOnlyCollection<string> inputNames, IReadOnlyCollection<OrtValue> inputs, IReadOnlyCollection<string> outputNames,
        CancellationToken cancellationToken, string? shrinkArenas = null, OrtLoraAdapter? adapter = null) =>
        Cancellable(runOptions => session.Run(runOptions, inputNames, inputs, outputNames), cancellationToken, shrinkArenas, adapter);

    /// <summary>As above, writing into <paramref name="outputs"/> (allocated by the caller, one per output name, in order).</summary>
    public static void RunCancellable(this InferenceSession session,
        IReadOnlyCollection<string> inputNames, IReadOnlyCollection<OrtValue> inputs, IReadOnlyCollection<string> outputNames,
        IReadOnlyCollection<OrtValue> outputs, CancellationToken cancellationToken) =>
        Cancellable(runOptions =>
        {
            session.Run(runOptions, inputNames, inputs, outputNames, outputs);
            return 0;
        }, cancellationToken, null, null);

    private static T Cancellable<T>(Func<RunOptions, T> run, CancellationToken cancellationToken, string? shrinkArenas, OrtLoraAdapter? adapter)
    {
        using var runOptions = new RunOptions();
        if (shrinkArenas is not null)
        {
            runOptions.AddRunConfigEntry(ArenaShrinkageKey, shrinkArenas);
        }
        if (adapter is not null)
        {
            runOptions.AddActiveLoraAdapter(adapter);
        }
        using var registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, runOptions);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            return run(runOptions);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }
}
