namespace Aurous.InferenceWorker.Tests;

public sealed class InferenceOptionsTests
{
    [Theory]
    [InlineData(null, RequestedProvider.Auto)]
    [InlineData("", RequestedProvider.Auto)]
    [InlineData("AUTO", RequestedProvider.Auto)]
    [InlineData("cpu", RequestedProvider.Cpu)]
    [InlineData(" cuda ", RequestedProvider.Cuda)]
    public void Execution_provider_setting_is_parsed(string? value, RequestedProvider expected) =>
        InferenceOptions.ParseProvider(value).ShouldBe(expected);

    [Fact]
    public void An_unknown_execution_provider_is_a_clear_error() =>
        Should.Throw<InvalidOperationException>(() => InferenceOptions.ParseProvider("tpu"))
            .Message.ShouldContain("'auto', 'cpu' or 'cuda'");
}
