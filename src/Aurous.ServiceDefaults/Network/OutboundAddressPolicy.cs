using System.Net;
using System.Net.Http;
using System.Net.Sockets;

namespace Aurous.ServiceDefaults.Network;

/// <summary>
/// The one rule for where the services may connect on a client's behalf (media URLs, webhook endpoints): the public
/// internet only. The check runs when the socket is opened (<see cref="SocketsHttpHandler.ConnectCallback"/>), on the
/// addresses DNS actually returned, so DNS rebinding and hostnames that point inside cannot slip through.
/// </summary>
public static class OutboundAddressPolicy
{
    /// <summary>
    /// A connect callback for <see cref="SocketsHttpHandler"/> that connects only to addresses
    /// <see cref="IsForbidden"/> lets through (all of them when <paramref name="allowPrivateNetworks"/>, a development
    /// setting). Otherwise it throws <see cref="ForbiddenAddressException"/> with <paramref name="refusal"/> appended.
    /// </summary>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(bool allowPrivateNetworks, string refusal) =>
        async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host.Trim('[', ']');
            var allowed = await AllowedAddressesAsync(host, allowPrivateNetworks, cancellationToken);
            if (allowed.Length == 0)
            {
                // The message never names the address: it would let any caller map internal DNS names.
                throw new ForbiddenAddressException($"'{host}' does not resolve to a public internet address; {refusal}");
            }
            Exception? last = null;
            foreach (var address in allowed)
            {
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch (SocketException ex)
                {
                    socket.Dispose();
                    last = ex;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
            throw last!;
        };

    /// <summary>The addresses of <paramref name="host"/> (a name or a literal) that a connection may use.</summary>
    public static async Task<IPAddress[]> AllowedAddressesAsync(string host, bool allowPrivateNetworks, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(host, out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, cancellationToken);
        return allowPrivateNetworks ? addresses : addresses.Where(a => !IsForbidden(a)).ToArray();
    }

    /// <summary>
    /// True for every address a client's URL must not reach: not globally routable unicast (RFC 6890 special-purpose
    /// registries), cloud metadata endpoints included (169.254.169.254, fd00:ec2::254, 100.100.100.200).
    /// IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4) is judged by its IPv4 address.
    /// </summary>
    public static bool IsForbidden(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> v4 = stackalloc byte[4];
            address.TryWriteBytes(v4, out _);
            return IsForbiddenV4(v4);
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return true;
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        if (b[..12].IndexOfAnyExcept((byte)0) < 0)
        {
            return true; // ::, ::1 and deprecated IPv4-compatible ::a.b.c.d
        }
        if (b[0] == 0xFE && (b[1] & 0xC0) is 0x80 or 0xC0)
        {
            return true; // fe80::/10 link-local, fec0::/10 site-local
        }
        if ((b[0] & 0xFE) == 0xFC || b[0] == 0xFF)
        {
            return true; // fc00::/7 unique-local (fd00:ec2::254 metadata), ff00::/8 multicast
        }
        if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xFF && b[3] == 0x9B)
        {
            // 64:ff9b::/96 NAT64 (judge the embedded IPv4); 64:ff9b:1::/48 local-use NAT64
            return b[4] != 0 || b[5] != 0 || b[6..12].IndexOfAnyExcept((byte)0) >= 0 || IsForbiddenV4(b[12..16]);
        }
        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return IsForbiddenV4(b[2..6]); // 2002::/16 6to4
        }
        if (b[0] == 0x20 && b[1] == 0x01 && ((b[2] == 0x00 && b[3] == 0x00) || (b[2] == 0x0D && b[3] == 0xB8)))
        {
            return true; // 2001::/32 Teredo, 2001:db8::/32 documentation
        }
        if (b[0] == 0x01 && b[1] == 0x00 && b[2..8].IndexOfAnyExcept((byte)0) < 0)
        {
            return true; // 100::/64 discard-only
        }
        return false;
    }

    private static bool IsForbiddenV4(ReadOnlySpan<byte> a) => a[0] switch
    {
        0 => true,                                   // 0.0.0.0/8 "this network"
        10 => true,                                  // 10/8 private
        100 => (a[1] & 0xC0) == 64,                  // 100.64/10 CGNAT (incl. 100.100.100.200 metadata)
        127 => true,                                 // loopback
        169 => a[1] == 254,                          // 169.254/16 link-local (incl. 169.254.169.254 metadata)
        172 => (a[1] & 0xF0) == 16,                  // 172.16/12 private
        192 => (a[1] == 168)                         // 192.168/16 private
            || (a[1] == 0 && a[2] is 0 or 2)         // 192.0.0/24 IETF, 192.0.2/24 TEST-NET-1
            || (a[1] == 88 && a[2] == 99),           // 192.88.99/24 6to4 relay
        198 => (a[1] & 0xFE) == 18                   // 198.18/15 benchmarking
            || (a[1] == 51 && a[2] == 100),          // 198.51.100/24 TEST-NET-2
        203 => a[1] == 0 && a[2] == 113,             // 203.0.113/24 TEST-NET-3
        >= 224 => true,                              // multicast 224/4, reserved 240/4, broadcast
        _ => false,
    };
}

/// <summary>A connection refused by <see cref="OutboundAddressPolicy"/>: the target is not on the public internet.</summary>
public sealed class ForbiddenAddressException(string message) : Exception(message);
