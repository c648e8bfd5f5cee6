using Aurous.Models;

namespace Aurous.InferenceWorker.Generation;

/// <summary>
/// The scheduler: Karras et al.'s sigma schedule (sigma_max to sigma_min, spaced by <c>rho</c>, then 0) and Euler
/// steps for a denoiser that predicts the clean latent x0: with <c>d = (x - x0) / sigma</c>,
/// <c>x' = x + d (sigma' - sigma) = x0 + (x - x0) sigma' / sigma</c>. Classifier-free guidance mixes the conditional
/// and unconditional predictions: <c>x0 = u + g (c - u)</c>.
/// </summary>
public static class EulerSampler
{
    /// <summary><paramref name="steps"/> + 1 sigmas, the last one 0.</summary>
    public static double[] KarrasSigmas(DiffusionSchedulerConfig config, int steps)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        var sigmas = new double[steps + 1];
        var maxInv = Math.Pow(config.SigmaMax, 1 / config.Rho);
        var minInv = Math.Pow(config.SigmaMin, 1 / config.Rho);
        for (var i = 0; i < steps; i++)
        {
            var t = steps == 1 ? 0 : (double)i / (steps - 1);
            sigmas[i] = Math.Pow(maxInv + t * (minInv - maxInv), config.Rho);
        }
        sigmas[steps] = 0;
        return sigmas;
    }

    /// <summary>One Euler step in place: <paramref name="x"/> moves from <paramref name="sigma"/> to <paramref name="nextSigma"/>.</summary>
    public static void Step(Span<float> x, ReadOnlySpan<float> denoised, double sigma, double nextSigma)
    {
        var ratio = (float)(nextSigma / sigma);
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = denoised[i] + (x[i] - denoised[i]) * ratio;
        }
    }

    /// <summary>Guided prediction from a batch of two, unconditional first: <c>u + g (c - u)</c>.</summary>
    public static void Guide(ReadOnlySpan<float> unconditional, ReadOnlySpan<float> conditional, float scale, Span<float> result)
    {
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = unconditional[i] + scale * (conditional[i] - unconditional[i]);
        }
    }
}
