using Microsoft.Extensions.Options;

namespace Aurous.InferenceWorker;

/// <summary>Collects the broken rules of one options class, so start-up names every bad setting at once.</summary>
internal sealed class OptionsCheck
{
    private readonly List<string> _failures = [];

    public void That(bool holds, string failure)
    {
        if (!holds)
        {
            _failures.Add(failure);
        }
    }

    public ValidateOptionsResult Result => _failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_failures);
}
