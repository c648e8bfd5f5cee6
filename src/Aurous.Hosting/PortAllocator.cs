using System.Net;
using System.Net.Sockets;

namespace Aurous.Hosting;

/// <summary>Fixed, memorable ports for a local run; free ephemeral loopback ports when several copies run side by side.</summary>
public sealed class PortAllocator(bool dynamic)
{
    private readonly HashSet<int> _taken = [];

    public int Allocate(int defaultPort)
    {
        if (!dynamic)
        {
            if (!_taken.Add(defaultPort))
            {
                throw new InvalidOperationException($"Port {defaultPort} is assigned to two resources.");
            }
            return defaultPort;
        }
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (_taken.Add(port))
            {
                return port;
            }
        }
    }
}
