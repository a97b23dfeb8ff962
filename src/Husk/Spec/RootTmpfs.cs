namespace Husk;

/// <summary>
/// The hidden tmpfs a sandbox's root is built on. Its root directory is never the sandbox's /, but
/// its mount flags and options are what the sandbox's mount table shows for /.
/// </summary>
public sealed record RootTmpfs
{
    /// <summary>Mode of the tmpfs root (01777, the kernel's default, shows no mode option).</summary>
    public UnixFileMode Mode { get; init; } = FileModes.Directory;
    /// <summary>Device nodes created directly in / work (otherwise nodev).</summary>
    public bool Devices { get; init; }
    /// <summary>Setuid files created directly in / work (otherwise nosuid).</summary>
    public bool AllowSetuid { get; init; }
    /// <summary>
    /// Caps the tmpfs that holds the sandbox's root while it is built, and the upper layers of
    /// overlays whose <see cref="OverlayMount.UpperRoot"/> is <see cref="SourceRoot.Storage"/>:
    /// a payload that fills it gets ENOSPC. Null: the kernel's default (half of RAM).
    /// </summary>
    public long? Size { get; init; }
    /// <summary>
    /// Hand the supervisor an open directory of this tmpfs (SandboxProcess.LayerStorage),
    /// so the layers kept in it can be read after the sandbox has ended.
    /// </summary>
    public bool KeepOpen { get; init; }
}
