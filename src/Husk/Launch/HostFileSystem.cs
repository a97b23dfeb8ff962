using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Launch;

/// <summary>
/// What the planner reads of the host's filesystem to derive a spec's mounts: the mount table and
/// directory listings. The real one reads the host; tests give made-up ones, so the planner stays
/// pure and every front door's plan can be checked without a kernel.
/// </summary>
internal interface IHostFileSystem
{
    /// <summary>The host's mount table.</summary>
    IReadOnlyList<HostMount> Mounts();

    /// <summary>The entries of a host directory (symlinks not followed); none when it cannot be read.</summary>
    IEnumerable<DirectoryEntry> List(string directory);

    /// <summary>The permission bits of a host path (0755 when it cannot be read).</summary>
    int ModeOf(string path);

    /// <summary>What a host path is, following symlinks; null when it does not exist.</summary>
    EntryKind? KindOf(string path);
}

/// <summary>The host as it is (the mount table read once: make one per plan).</summary>
internal sealed class RealHostFileSystem : IHostFileSystem
{
    private IReadOnlyList<HostMount>? _mounts;

    // Read once per plan: the planner asks for it several times.
    public IReadOnlyList<HostMount> Mounts() => _mounts ??= HostMounts.Read();

    public IEnumerable<DirectoryEntry> List(string directory) => OverlayPlanner.ListHost(directory);

    public int ModeOf(string path) => OverlayPlanner.HostMode(path);

    public EntryKind? KindOf(string path)
    {
        if (Interop.Interop.TryStat(path, out var st) != 0)
            return null;
        return (st.Mode & Interop.Interop.S_IFMT) switch
        {
            Interop.Interop.S_IFDIR => EntryKind.Directory,
            Interop.Interop.S_IFREG => EntryKind.File,
            _ => EntryKind.Other,
        };
    }
}
