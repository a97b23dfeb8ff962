namespace Husk;

/// <summary>
/// The hidden tmpfs a sandbox's root is built on. Its root directory is never the sandbox's /, but
/// its mount flags and options are what the sandbox's mount table shows for /.
/// </summary>
public sealed record RootTmpfs
{
    /// <summary>Mode of the tmpfs root (01777, the kernel's default, shows no mode option).</summary>
    public int Mode { get; init; } = 0x1ED; // 0755
    /// <summary>Device nodes created directly in / work (otherwise nodev).</summary>
    public bool Devices { get; init; }
    /// <summary>Setuid files created directly in / work (otherwise nosuid).</summary>
    public bool AllowSetuid { get; init; }
}
