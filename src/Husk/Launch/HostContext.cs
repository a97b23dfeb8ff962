using Husk.Interop;

namespace Husk.Launch;

/// <summary>Facts about the caller the planner needs; read once from the host, or made up in tests.</summary>
internal sealed record HostContext
{
    public required uint Uid { get; init; }
    public required uint Gid { get; init; }
    public required string WorkingDirectory { get; init; }
    public string? Home { get; init; }
    /// <summary>The running program (the engine's binary for the CLI), kept read-only where the host's tree is writable.</summary>
    public string? EnginePath { get; init; }
    /// <summary>The session's runtime directory ($XDG_RUNTIME_DIR, else /run/user/UID), whose sockets are why /run is private.</summary>
    public string? RuntimeDirectory { get; init; }
    public ulong MountNamespace { get; init; }
    /// <summary>The terminal on stdout, if any (bound as /dev/console).</summary>
    public string? Tty { get; init; }
    public uint Umask { get; init; } = 0x12; // 022
    /// <summary>The kernel's Landlock ABI (0: none).</summary>
    public int LandlockAbi { get => _landlockAbi ??= Policy.LandlockPolicy.KernelAbi; init => _landlockAbi = value; }
    private int? _landlockAbi; // read when a plan uses Landlock, not on every start

    /// <summary>The host's filesystem as the planner reads it (the real one unless a test says otherwise).</summary>
    public IHostFileSystem FileSystem { get; init; } = new RealHostFileSystem();

    /// <summary>Finds a host program by name (nft, ip, pasta, slirp4netns); null when it is not installed.</summary>
    public Func<string, string?> FindProgram { get; init; } = Network.HostPrograms.Find;

    /// <summary>The host's interface addresses (read when a network plan needs them).</summary>
    public IReadOnlyList<System.Net.IPAddress> HostAddresses { get => _hostAddresses ??= Network.HostNetwork.Addresses(); init => _hostAddresses = value; }
    private IReadOnlyList<System.Net.IPAddress>? _hostAddresses;

    /// <summary>The gateways of the host's default routes (read when a network plan needs them).</summary>
    public IReadOnlyList<System.Net.IPAddress> Gateways { get => _gateways ??= Network.HostNetwork.Gateways(); init => _gateways = value; }
    private IReadOnlyList<System.Net.IPAddress>? _gateways;

    public bool IsRoot => Uid == 0;

    public static HostContext Current()
    {
        uint mask = Interop.Interop.Umask(0x12);
        Interop.Interop.Umask(mask);
        string cwd;
        try
        {
            cwd = Directory.GetCurrentDirectory();
        }
        catch (IOException)
        {
            cwd = "/";
        }
        catch (UnauthorizedAccessException)
        {
            cwd = "/";
        }
        return new HostContext
        {
            Uid = Interop.Interop.GetUid(),
            Gid = Interop.Interop.GetGid(),
            WorkingDirectory = cwd,
            Home = Environment.GetEnvironmentVariable("HOME"),
            EnginePath = Environment.ProcessPath,
            RuntimeDirectory = Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 1 } r ? r : $"/run/user/{Interop.Interop.GetUid()}",
            MountNamespace = Interop.Interop.NamespaceInode("mnt"),
            Tty = TtyOf(1),
            Umask = mask,
        };
    }

    private static string? TtyOf(int fd)
    {
        if (Interop.Interop.IsATty(fd) != 1)
            return null;
        try
        {
            var target = File.ResolveLinkTarget($"/proc/self/fd/{fd}", returnFinalTarget: false);
            return target?.FullName is { } p && p.StartsWith("/dev/", StringComparison.Ordinal) ? p : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
