namespace Husk.Network;

/// <summary>Finds the host's helper programs (nft, ip, pasta, slirp4netns) where Debian installs them, whatever the caller's PATH.</summary>
internal static class HostPrograms
{
    private static readonly string[] SystemDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>The absolute path of <paramref name="name"/>, or null when it is not installed.</summary>
    public static string? Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH")?.Split(':', StringSplitOptions.RemoveEmptyEntries) ?? [];
        foreach (string dir in path.Where(d => d.StartsWith('/')).Concat(SystemDirectories))
        {
            string candidate = Path.Join(dir, name);
            if (Interop.Interop.Access(candidate, 1) == 0 && !Directory.Exists(candidate))
                return candidate;
        }
        return null;
    }
}
