using System.Net.Sockets;
using System.Text;
using Npgsql;

namespace Aurous.AppHost;

/// <summary>Readiness probes for the local stores: each answers a real request, not just an open port.</summary>
internal static class ServerProbes
{
    public static async Task<bool> PostgresAsync(string connectionString, CancellationToken ct)
    {
        await using var conn = new NpgsqlConnection(connectionString + ";Timeout=2;Pooling=false");
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand("SELECT 1", conn);
        return await cmd.ExecuteScalarAsync(ct) is 1;
    }

    /// <summary>AUTH + PING over RESP, so the AppHost needs no Redis client library.</summary>
    public static async Task<bool> RedisAsync(string connectionString, CancellationToken ct)
    {
        var parts = connectionString.Split(',');
        var hostPort = parts[0].Split(':');
        var password = parts.Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith("password=", StringComparison.Ordinal))?["password=".Length..];
        using var client = new TcpClient();
        await client.ConnectAsync(hostPort[0], int.Parse(hostPort[1], System.Globalization.CultureInfo.InvariantCulture), ct);
        var stream = client.GetStream();
        var command = password is null ? "PING\r\n" : $"AUTH {password}\r\nPING\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command), ct);
        var buffer = new byte[256];
        var text = "";
        while (!text.Contains("+PONG", StringComparison.Ordinal) && !text.Contains("-ERR", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer, ct);
            if (n == 0)
            {
                return false;
            }
            text += Encoding.ASCII.GetString(buffer, 0, n);
        }
        return text.Contains("+PONG", StringComparison.Ordinal);
    }

    /// <summary>Any answer from the blob service (it refuses this unsigned request) means it is up.</summary>
    public static async Task<bool> AzuriteAsync(string connectionString, CancellationToken ct)
    {
        var endpoint = connectionString.Split(';').Single(p => p.StartsWith("BlobEndpoint=", StringComparison.Ordinal))["BlobEndpoint=".Length..];
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        using var response = await http.GetAsync(endpoint.TrimEnd('/') + "?comp=list", ct);
        return (int)response.StatusCode is >= 200 and < 500;
    }
}
