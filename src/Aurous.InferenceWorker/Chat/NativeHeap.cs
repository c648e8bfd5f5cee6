using System.Runtime.InteropServices;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// How the C heap holds and gives back memory (glibc). ONNX Runtime allocates a chat decoder's tensors with
/// <c>malloc</c> (its CPU arena is off for the decoder). Left to itself glibc maps a block of a large size on its own
/// and unmaps it when freed, raising that threshold to the largest block freed so far (up to 32 MiB), and hands a
/// heap's free top back to the system past a trim threshold that moves with it. Both ends hurt a decoder:
/// <list type="bullet">
/// <item>blocks of a size freed once stay in the heap for good (measured: a worker grew by ~50 MiB after each
/// 4,000-token prompt);</item>
/// <item>what every decode step allocates and frees (ONNX Runtime's working tensors of a batched step, megabytes: a
/// batch of 32 rows of the 50k vocabulary alone is 6 MiB) was mapped, or trimmed and grown back, at every step, so its
/// pages were faulted in again and again (measured: 30-40 % of a busy worker's CPU in the kernel, and a batched
/// decode slower than one loop per request).</item>
/// </list>
/// So both thresholds are fixed. While only ordinary generations run, at <see cref="StepBytes"/>: blocks under it come
/// from the heap, and that much of a heap's free top is kept, so each step reuses what the last one freed. While a
/// generation that reserved a large share of the memory budget runs (a long prompt, <see cref="MapLargeBlocks"/>), at
/// <see cref="LargeBlockBytes"/> and glibc's default trim threshold: its KV caches, scores and logits, MiBs each, are
/// mapped and unmapped when freed, so the worker's peak stays what the budget planned. <see cref="Trim"/> hands the
/// free pages back when the engine goes idle or a large generation ends. Where the C library is not glibc all of this
/// does nothing.
/// </summary>
internal static class NativeHeap
{
    /// <summary>glibc's <c>M_TRIM_THRESHOLD</c> parameter of <c>mallopt</c>.</summary>
    private const int TrimThreshold = -1;
    /// <summary>glibc's <c>M_MMAP_THRESHOLD</c> parameter of <c>mallopt</c>.</summary>
    private const int MmapThreshold = -3;
    /// <summary>Both thresholds while only ordinary generations run.</summary>
    public const int StepBytes = 8 << 20;
    /// <summary>The mapping threshold while a large generation runs.</summary>
    public const int LargeBlockBytes = 1 << 20;
    /// <summary>glibc's default trim threshold, kept while a large generation runs.</summary>
    private const int DefaultTrimBytes = 128 << 10;

    private static readonly Lock Gate = new();
    private static int _large;
    private static volatile bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Fixes both thresholds for ordinary generations (process-wide); false where this C library cannot.</summary>
    public static bool HoldStepMemory()
    {
        lock (Gate)
        {
            return _large == 0 ? Set(StepBytes, StepBytes) : !_unavailable;
        }
    }

    /// <summary>
    /// Until the returned scope is disposed (one per large generation; they nest), large blocks are mapped on their
    /// own and the heap's free top goes back at once.
    /// </summary>
    public static IDisposable MapLargeBlocks()
    {
        lock (Gate)
        {
            if (_large++ == 0)
            {
                Set(LargeBlockBytes, DefaultTrimBytes);
            }
        }
        return new LargeScope();
    }

    private sealed class LargeScope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }
            lock (Gate)
            {
                if (--_large == 0)
                {
                    Set(StepBytes, StepBytes);
                }
            }
        }
    }

    private static bool Set(int mmapThreshold, int trimThreshold)
    {
        if (_unavailable)
        {
            return false;
        }
        try
        {
            return MallOpt(MmapThreshold, mmapThreshold) == 1 && MallOpt(TrimThreshold, trimThreshold) == 1;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;
            return false;
        }
    }

    /// <summary>Returns free heap pages to the system; false where this C library cannot.</summary>
    public static bool Trim()
    {
        if (_unavailable)
        {
            return false;
        }
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true; // musl and others have no malloc_trim
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int MallOpt(int parameter, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);
}
