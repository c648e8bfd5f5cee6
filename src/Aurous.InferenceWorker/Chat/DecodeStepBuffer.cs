using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Chat;

/// <summary>
/// Native memory for a batched decode step's caches: the padded <c>past_key_values.*</c> inputs and the
/// <c>present.*</c> outputs, megabytes at every step. Kept from step to step (grown by half again when a step needs
/// more), so a step writes into pages that are already mapped instead of a fresh allocation the system maps, faults in
/// page by page and unmaps again; given back when the model's batched decoding goes idle. Not thread-safe: a step takes
/// it for its run (<see cref="ChatModel"/>).
/// </summary>
internal sealed unsafe class DecodeStepBuffer : IDisposable
{
    private float* _data;
    private long _capacity;
    private long _used;

    /// <summary>Floats held now.</summary>
    public long Capacity => _capacity;

    /// <summary>Starts a step that needs <paramref name="floats"/> in all: grows if need be, and hands out from the start again.</summary>
    public void Reset(long floats)
    {
        if (floats > _capacity)
        {
            Free();
            var capacity = Math.Max(floats, _capacity + _capacity / 2);
            _data = (float*)NativeMemory.AlignedAlloc((nuint)(capacity * sizeof(float)), 64);
            _capacity = capacity;
        }
        _used = 0;
    }

    /// <summary>The next float tensor of <paramref name="shape"/> in the buffer (its contents undefined), as an
    /// <see cref="OrtValue"/> over that memory (disposing it leaves the memory to the buffer).</summary>
    public OrtValue Take(long[] shape)
    {
        long count = 1;
        foreach (var dimension in shape)
        {
            count *= dimension;
        }
        if (_used + count > _capacity)
        {
            throw new InvalidOperationException($"a decode step asked for {_used + count} floats of a buffer reset for {_capacity}");
        }
        var at = _data + _used;
        _used += count;
        return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float, shape, (nint)at, count * sizeof(float));
    }

    private void Free()
    {
        if (_data is not null)
        {
            NativeMemory.AlignedFree(_data);
            _data = null;
            _capacity = 0;
        }
    }

    public void Dispose() => Free();
}
