using Aurous.InferenceWorker.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Aurous.InferenceWorker.Chat;

public sealed partial class ChatModel
{
    private InferenceSession? _decodeSession;
    /// <summary>The buffer batched steps' logits are written to (taken by a step while it runs, so concurrent steps never share it).</summary>
    private float[]? _stepLogits;
    /// <summary>The batched steps' padded caches and outputs (taken by a step while it runs, like the logits).</summary>
    private DecodeStepBuffer? _stepBuffer;

    /// <summary>Gives back the memory batched steps keep between runs (when no generation is decoding in a batch).</summary>
    public void ReleaseStepBuffers()
    {
        Interlocked.Exchange(ref _stepBuffer, null)?.Dispose();
        Volatile.Write(ref _stepLogits, null);
    }

    /// <summary>
    /// Runs batched decode steps on <paramref name="session"/> (the same decoder file, e.g. with more threads per run:
    /// <c>Inference:DecodeIntraOpThreads</c>) instead of the shared session; owned by the model from here on.
    /// </summary>
    public void UseDecodeSession(InferenceSession session)
    {
        CheckSignature(session, new DecoderShape(Layers, KvHeads, HeadDim, AttentionHeads));
        _decodeSession?.Dispose();
        _decodeSession = session;
    }

    /// <summary>
    /// One decode step for several generations in a single decoder run: each state takes one token. The caches are
    /// left-padded to the longest (padding masked out by <c>attention_mask</c>, each row keeps its own
    /// <c>position_ids</c>), and afterwards each state gets its own rows of <c>present.*</c> back, without the padding,
    /// so it can go on alone or in another batch. Returns each state's logits (length ≥ vocabulary), in order, in a
    /// buffer the state reuses: valid until that state's next batched step.
    /// A single state runs as <see cref="Forward(DecoderState, ReadOnlySpan{long}, CancellationToken)"/> would.
    /// </summary>
    public float[][] ForwardStep(IReadOnlyList<DecoderState> states, ReadOnlySpan<long> tokens, CancellationToken cancellationToken)
    {
        var batch = states.Count;
        if (batch == 0 || tokens.Length != batch)
        {
            throw new ArgumentException($"a decode step needs one token per state: {batch} states, {tokens.Length} tokens", nameof(tokens));
        }
        foreach (var state in states)
        {
            ObjectDisposedException.ThrowIf(state.Disposed, state);
        }
        Validate(tokens, []);
        if (batch == 1)
        {
            return [ForwardOnce(states[0], tokens, [], cancellationToken)];
        }

        var past = 0;
        foreach (var state in states)
        {
            past = Math.Max(past, state.Length);
        }
        var total = past + 1;
        var names = new List<string>(3 + 2 * Layers);
        var values = new List<OrtValue>(3 + 2 * Layers);
        OrtValue[]? outputs = null;
        IDisposableReadOnlyCollection<OrtValue>? allocated = null;
        float[]? stepLogits = null;
        var buffer = Interlocked.Exchange(ref _stepBuffer, null) ?? new DecodeStepBuffer();
        try
        {
            // Every past input, then (where the outputs are bound) every present output: 2 x layers of each.
            buffer.Reset(2L * Layers * batch * KvHeads * HeadDim * (past + total));
            names.Add(_embeddings is null ? InputIds : InputsEmbeds);
            values.Add(_embeddings is null
                ? OrtValue.CreateTensorValueFromMemory(tokens.ToArray(), [batch, 1])
                : EmbedStep(tokens, cancellationToken));
            var mask = new long[batch * total];
            var positions = new long[batch];
            for (var b = 0; b < batch; b++)
            {
                var length = states[b].Length;
                mask.AsSpan(b * total + past - length, length + 1).Fill(1L);
                positions[b] = length;
            }
            names.Add(AttentionMask);
            values.Add(OrtValue.CreateTensorValueFromMemory(mask, [batch, total]));
            if (_hasPositionIds)
            {
                names.Add(PositionIds);
                values.Add(OrtValue.CreateTensorValueFromMemory(positions, [batch, 1]));
            }
            for (var i = 0; i < 2 * Layers; i++)
            {
                names.Add(i % 2 == 0 ? $"past_key_values.{i / 2}.key" : $"past_key_values.{i / 2}.value");
                values.Add(PaddedPast(states, i, past, buffer));
            }

            var session = _decodeSession ?? _session;
            // Where the export declares the logits' width, they are written straight into a buffer the model keeps for
            // its steps (a batch's logits are megabytes: mapped and unmapped on every step otherwise); else ONNX
            // Runtime allocates every output.
            var width = session.OutputMetadata[Logits].Dimensions is [_, _, > 0 and var declared] ? declared : 0;
            if (width > 0)
            {
                stepLogits = Interlocked.Exchange(ref _stepLogits, null);
                if (stepLogits is null || stepLogits.Length < batch * width)
                {
                    stepLogits = new float[batch * width];
                }
                outputs = new OrtValue[1 + 2 * Layers];
                outputs[0] = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, stepLogits.AsMemory(0, batch * width), [batch, 1, width]);
                for (var i = 1; i < outputs.Length; i++)
                {
                    outputs[i] = buffer.Take([batch, KvHeads, total, HeadDim]);
                }
                session.RunCancellable(names, values, _outputNames, outputs, cancellationToken);
            }
            else
            {
                allocated = session.RunCancellable(names, values, _outputNames, cancellationToken);
            }
            IReadOnlyList<OrtValue> results = outputs ?? (IReadOnlyList<OrtValue>)allocated!;
            var shape = results[0].GetTensorTypeAndShape().Shape;
            if (shape.Length != 3 || shape[0] != batch || shape[1] != 1 || shape[2] < VocabSize)
            {
                throw new InvalidDataException($"logits have shape [{string.Join(", ", shape)}], expected [{batch}, 1, >= {VocabSize}]");
            }
            var vocab = (int)shape[2];
            var all = results[0].GetTensorDataAsSpan<float>();
            var logits = new float[batch][];
            for (var b = 0; b < batch; b++)
            {
                logits[b] = states[b].LogitsBuffer(vocab);
                all.Slice(b * vocab, vocab).CopyTo(logits[b]);
            }
            for (var b = 0; b < batch; b++)
            {
                var caches = new OrtValue[2 * Layers];
                for (var i = 0; i < caches.Length; i++)
                {
                    caches[i] = OwnRows(results[1 + i], b, total, states[b].Length + 1);
                }
                states[b].Replace(caches, states[b].Length + 1);
            }
            return logits;
        }
        finally
        {
            foreach (var value in values)
            {
                value.Dispose();
            }
            foreach (var value in outputs ?? [])
            {
                value?.Dispose();
            }
            allocated?.Dispose();
            if (stepLogits is not null)
            {
                Volatile.Write(ref _stepLogits, stepLogits);
            }
            // A step running at the same time (never from one batcher) may have put its own back: keep one of the two.
            Interlocked.Exchange(ref _stepBuffer, buffer)?.Dispose();
        }
    }

    /// <summary><c>inputs_embeds</c> [batch, 1, hidden] for one token per row, from one run of the embeddings graph.</summary>
    private OrtValue EmbedStep(ReadOnlySpan<long> tokens, CancellationToken cancellationToken)
    {
        using var embedded = Embed(tokens, [], cancellationToken);
        // [1, batch, hidden] and [batch, 1, hidden] are the same values in the same order.
        return OrtValue.CreateTensorValueFromMemory(embedded[0].GetTensorDataAsSpan<float>().ToArray(), [tokens.Length, 1, HiddenSize]);
    }

    /// <summary>The <paramref name="index"/>-th past input for the batch: [batch, kv_heads, past, head_dim], each row's cache right-aligned, zeros before it.</summary>
    private OrtValue PaddedPast(IReadOnlyList<DecoderState> states, int index, int past, DecodeStepBuffer buffer)
    {
        var batch = states.Count;
        var value = buffer.Take([batch, KvHeads, past, HeadDim]);
        var target = value.GetTensorMutableDataAsSpan<float>();
        var stride = past * HeadDim;
        for (var b = 0; b < batch; b++)
        {
            var length = states[b].Length;
            var source = length == 0 ? [] : states[b].Past(index)!.GetTensorDataAsSpan<float>();
            for (var h = 0; h < KvHeads; h++)
            {
                var row = target.Slice((b * KvHeads + h) * stride, stride);
                row[..((past - length) * HeadDim)].Clear();
                source.Slice(h * length * HeadDim, length * HeadDim).CopyTo(row[((past - length) * HeadDim)..]);
            }
        }
        return value;
    }

    /// <summary>Row <paramref name="b"/> of a batched <c>present.*</c> output [batch, kv_heads, total, head_dim], without its padding: [1, kv_heads, length, head_dim].</summary>
    private OrtValue OwnRows(OrtValue present, int b, int total, int length)
    {
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float, [1, KvHeads, length, HeadDim]);
        var target = value.GetTensorMutableDataAsSpan<float>();
        var source = present.GetTensorDataAsSpan<float>();
        for (var h = 0; h < KvHeads; h++)
        {
            source.Slice(((b * KvHeads + h) * total + total - length) * HeadDim, length * HeadDim).CopyTo(target.Slice(h * length * HeadDim, length * HeadDim));
        }
        return value;
    }
}
