using System.Runtime.InteropServices;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// How the C heap gives memory back to the system (glibc). ONNX Runtime allocates a chat decoder's tensors with
/// <c>malloc</c> (its CPU arena is off for the decoder). glibc maps a large block on its own and unmaps it when freed,
/// but by default it raises that threshold to the largest block freed so far (up to 32 MiB), after which blocks of
/// that size come from the heap and stay there once freed: measured, a worker grew by ~50 MiB after each 4,000-token
/// prompt. <see cref="MapLargeAllocations"/> fixes the threshold (1 MiB: every KV cache, score and logits tensor of a
/// long prompt is mapped, and unmapped when freed); <see cref="Trim"/> returns what is left free in the heap. Where
/// the C library is not glibc both do nothing.
/// </summary>
internal static class NativeHeap
{
    /// <summary>glibc's <c>M_MMAP_THRESHOLD</c> parameter of <c>mallopt</c>.</summary>
    private const int MmapThreshold = -3;
    /// <summary>Blocks from this size up are mapped on their own.</summary>
    public const int LargeAllocationBytes = 1 << 20;

    private static volatile bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>Maps every block of <see cref="LargeAllocationBytes"/> or more on its own, for good (process-wide); false where this C library cannot.</summary>
    public static bool MapLargeAllocations()
    {
        if (_unavailable)
        {
            return false;
        }
        try
        {
            return MallOpt(MmapThreshold, LargeAllocationBytes) == 1;
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
