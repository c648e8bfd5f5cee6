using System.Security.Cryptography;
using System.Text.Json;

namespace Aurous.Hosting;

/// <summary>Generated local passwords (Aspire's generated parameters), kept in the state folder so restarts reuse them.</summary>
internal static class Secrets
{
    private static readonly Lock Gate = new();

    public static string Get(RunContext context, string name)
    {
        lock (Gate)
        {
            var path = context.StatePath("secrets.json");
            var all = File.Exists(path)
                ? JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)) ?? []
                : [];
            if (!all.TryGetValue(name, out var value))
            {
                value = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                all[name] = value;
                Directory.CreateDirectory(context.Options.StateDirectory);
                File.WriteAllText(path, JsonSerializer.Serialize(all));
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
            return value;
        }
    }
}
