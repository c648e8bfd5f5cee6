using System.Net;
using Aurous.InferenceWorker.Media;

namespace Aurous.InferenceWorker.Tests;

public sealed class SafeMediaFetcherTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.0.9")]
    [InlineData("10.1.2.3")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("100.100.100.200")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("198.18.0.1")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fe80::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("2002:7f00:1::")]
    [InlineData("2001:db8::1")]
    public void Non_public_addresses_are_forbidden(string address) =>
        Aurous.ServiceDefaults.Network.OutboundAddressPolicy.IsForbidden(IPAddress.Parse(address)).ShouldBeTrue();

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("172.32.0.1")]
    [InlineData("100.128.0.1")]
    [InlineData("169.253.1.1")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    public void Public_addresses_are_allowed(string address) =>
        Aurous.ServiceDefaults.Network.OutboundAddressPolicy.IsForbidden(IPAddress.Parse(address)).ShouldBeFalse();

    [Fact]
    public void Data_urls_decode_base64_and_percent_encoding()
    {
        DataUrl.Decode("data:image/png;base64,AAEC/w==", 100).ShouldBe([0, 1, 2, 255]);
        DataUrl.Decode("data:,a%20b", 100).ShouldBe("a b"u8.ToArray());
        Should.Throw<MediaException>(() => DataUrl.Decode("data:image/png;base64,@@@@", 100)).Code.ShouldBe(MediaErrorCodes.InvalidMediaUrl);
        Should.Throw<MediaException>(() => DataUrl.Decode("data:image/png;base64", 100)).Code.ShouldBe(MediaErrorCodes.InvalidMediaUrl);
        Should.Throw<MediaException>(() => DataUrl.Decode("data:;base64," + Convert.ToBase64String(new byte[1000]), 100)).Code.ShouldBe(MediaErrorCodes.MediaTooLarge);
    }
}
