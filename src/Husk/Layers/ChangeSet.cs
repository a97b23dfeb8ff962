using Husk.FileSystem;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Layers;

/// <summary>What changed at a path.</summary>
public enum ChangeKind
{
    /// <summary>Created where the host has nothing.</summary>
    Added,
    /// <summary>Content (or a symlink's target) differs from the host's.</summary>
    Modified,
    /// <summary>Removed (a whiteout in the layer).</summary>
    Deleted,
    /// <summary>A different kind of file than the host's (a file became a directory...).</summary>
    TypeChanged,
    /// <summary>Same content, different mode or times.</summary>
    MetadataOnly,
    /// <summary>A directory that replaces the host's wholesale (opaque in the layer): what was in it is gone.</summary>
    Replaced,
}

/// <summary>What a path is.</summary>
public enum NodeKind
{
    /// <summary>Nothing there.</summary>
    None,
    /// <summary>A regular file.</summary>
    File,
    /// <summary>A directory.</summary>
    Directory,
    /// <summary>A symbolic link.</summary>
    Symlink,
    /// <summary>A device, socket or FIFO.</summary>
    Special,
}

/// <summary>One change of the sandbox's layer against the host.</summary>
public sealed record Change(string Path, ChangeKind Kind, NodeKind Node, NodeKind HostNode)
{
    /// <summary>The file in the layer holding the new content (null for a deletion).</summary>
    public string? LayerPath { get; init; }
    /// <summary>The host path changed since the session began: committing it would lose someone's work.</summary>
    public bool Conflict { get; init; }
    /// <summary>Why it is a conflict, for the user.</summary>
    public string? ConflictReason { get; init; }
    /// <summary>Mode of the new node (permission bits and setuid/setgid/sticky).</summary>
    public int Mode { get; init; }
    /// <summary>Size in bytes of a new file.</summary>
    public long Size { get; init; }
    /// <summary>Target of a new symlink.</summary>
    public string? LinkTarget { get; init; }

    /// <summary>Short label as try's summary prints it.</summary>
    public string Label => Kind switch
    {
        ChangeKind.Added when Node == NodeKind.Directory => "created dir",
        ChangeKind.Added when Node == NodeKind.Symlink => "symlink",
        ChangeKind.Added => "added",
        ChangeKind.Modified when Node == NodeKind.Symlink => "symlink",
        ChangeKind.Modified => "modified",
        ChangeKind.Deleted => "deleted",
        ChangeKind.TypeChanged when Node == NodeKind.Directory => "replaced with dir",
        ChangeKind.TypeChanged when Node == NodeKind.Symlink => "symlink",
        ChangeKind.TypeChanged => "replaced",
        ChangeKind.MetadataOnly => "metadata",
        ChangeKind.Replaced => "replaced with dir",
        _ => Kind.ToString(),
    };
}

/// <summary>
/// The changes in a sandbox root's layer (<c>upperdir/&lt;absolute path&gt;</c>) against the host.
/// Understands overlayfs's whiteouts (a 0:0 character device, or the xattr form) and opaque
/// directories; a copy-up that changed nothing (same content, mode and times) is not a change.
/// </summary>
public static class ChangeSet
{
    private const string OverlayXattrPrefix = "user.overlay.";
    private const string TrustedOverlayPrefix = "trusted.overlay.";
    private const string FuseOverlayPrefix = "user.fuseoverlayfs.";

    /// <summary>fuse-overlayfs marks an opaque directory with this file (and a whiteout named .wh..opq) besides its xattr.</summary>
    private static bool IsFuseOverlayMarker(string name) => name is ".wh..wh..opq" or ".wh..opq";

    /// <param name="upperRoot">The layer: <c>ROOT/upperdir</c>.</param>
    /// <param name="hostRoot">The tree it changes (the host's /, or another tree in tests).</param>
    /// <param name="since">When the session began: host paths changed after it are conflicts.</param>
    /// <param name="manifest">Content hashes of host files when the session began (absolute host path to SHA-256).</param>
    /// <param name="prepared">Directories Husk created in the layer with the mode it gave them (not changes while they keep it).</param>
    public static List<Change> Scan(string upperRoot, string hostRoot = "/", DateTimeOffset? since = null, IReadOnlyDictionary<string, string>? manifest = null,
        IReadOnlyDictionary<string, int>? prepared = null)
    {
        var changes = new List<Change>();
        Walk(upperRoot, hostRoot, "", hostGone: false, changes, since, prepared ?? new Dictionary<string, int>());
        if (manifest is null)
            return changes;
        // A recorded original whose host content differs now was changed meanwhile, whatever its ctime says.
        for (int i = 0; i < changes.Count; i++)
        {
            var c = changes[i];
            if (c.Conflict || c.HostNode != NodeKind.File || !manifest.TryGetValue(c.Path, out string? original))
                continue;
            string? now = SandboxRoot.HashOf(Join(hostRoot, c.Path));
            if (now != original)
                changes[i] = c with { Conflict = true, ConflictReason = "its content on the host differs from when the session began" };
        }
        return changes;
    }

    private static void Walk(string upperRoot, string hostRoot, string rel, bool hostGone, List<Change> changes, DateTimeOffset? since,
        IReadOnlyDictionary<string, int> prepared)
    {
        string upperDir = Join(upperRoot, rel);
        IEnumerable<string> names;
        try
        {
            names = Directory.EnumerateFileSystemEntries(upperDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()!;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        foreach (string name in names)
        {
            if (IsFuseOverlayMarker(name))
                continue;
            string path = rel + "/" + name;
            string upper = Join(upperRoot, path);
            if (TryStat(upper, out var up, followSymlinks: false) != 0)
                continue;
            var node = Kind(up.Mode);
            var hostNode = NodeKind.None;
            Statx host = default;
            if (!hostGone && TryStat(Join(hostRoot, path), out host, followSymlinks: false) == 0)
                hostNode = Kind(host.Mode);
            var conflict = ConflictOf(hostNode, host, since);

            if (IsWhiteout(upper, up))
            {
                if (hostNode != NodeKind.None)
                    changes.Add(new Change(path, ChangeKind.Deleted, NodeKind.None, hostNode) { Conflict = conflict is not null, ConflictReason = conflict });
                continue;
            }
            var change = new Change(path, ChangeKind.Added, node, hostNode)
            {
                LayerPath = upper,
                Mode = up.Mode & 0xFFF,
                Size = (long)up.Size,
                LinkTarget = node == NodeKind.Symlink ? new FileInfo(upper).LinkTarget : null,
                Conflict = conflict is not null,
                ConflictReason = conflict,
            };
            switch (node)
            {
                case NodeKind.Directory:
                    bool opaque = IsOpaque(upper);
                    // A directory Husk prepared, left empty, whose host directory went away meanwhile: not the sandbox's doing.
                    if (hostNode == NodeKind.None && !opaque && prepared.TryGetValue(path, out int mode) && mode == (up.Mode & 0xFFF) &&
                        !Directory.EnumerateFileSystemEntries(upper).Any())
                        break;
                    if (hostNode == NodeKind.None)
                        changes.Add(change);
                    else if (hostNode != NodeKind.Directory)
                        changes.Add(change with { Kind = ChangeKind.TypeChanged });
                    else if (opaque)
                        changes.Add(change with { Kind = ChangeKind.Replaced });
                    else if ((host.Mode & 0xFFF) != (up.Mode & 0xFFF) && !(prepared.TryGetValue(path, out int given) && given == (up.Mode & 0xFFF)))
                        changes.Add(change with { Kind = ChangeKind.MetadataOnly });
                    // Below a new, replaced or opaque directory, nothing of the host's shows through.
                    Walk(upperRoot, hostRoot, path, hostGone || hostNode != NodeKind.Directory || opaque, changes, since, prepared);
                    break;
                case NodeKind.File:
                    if (hostNode == NodeKind.None)
                        changes.Add(change);
                    else if (hostNode != NodeKind.File)
                        changes.Add(change with { Kind = ChangeKind.TypeChanged });
                    else if (up.Size != host.Size || !SameContent(upper, Join(hostRoot, path)))
                        changes.Add(change with { Kind = ChangeKind.Modified });
                    else if ((host.Mode & 0xFFF) != (up.Mode & 0xFFF) || host.MtimeSec != up.MtimeSec || host.MtimeNsec != up.MtimeNsec)
                        changes.Add(change with { Kind = ChangeKind.MetadataOnly });
                    break;
                case NodeKind.Symlink:
                    if (hostNode == NodeKind.None)
                        changes.Add(change);
                    else if (hostNode != NodeKind.Symlink)
                        changes.Add(change with { Kind = ChangeKind.TypeChanged });
                    else if (new FileInfo(Join(hostRoot, path)).LinkTarget != change.LinkTarget)
                        changes.Add(change with { Kind = ChangeKind.Modified });
                    break;
                default:
                    changes.Add(hostNode == NodeKind.None ? change : change with { Kind = ChangeKind.TypeChanged });
                    break;
            }
        }
    }

    /// <summary>Why the host path counts as changed since the session began, or null.</summary>
    private static string? ConflictOf(NodeKind hostNode, Statx host, DateTimeOffset? since)
    {
        if (since is not { } start || hostNode == NodeKind.None)
            return null;
        var ctime = DateTimeOffset.FromUnixTimeSeconds(host.CtimeSec).AddTicks(host.CtimeNsec / 100);
        return ctime > start ? $"changed on the host at {ctime.ToLocalTime():yyyy-MM-dd HH:mm:ss}, after the session began" : null;
    }

    internal static NodeKind Kind(ushort mode) => (mode & S_IFMT) switch
    {
        S_IFREG => NodeKind.File,
        S_IFDIR => NodeKind.Directory,
        S_IFLNK => NodeKind.Symlink,
        _ => NodeKind.Special,
    };

    /// <summary>A whiteout: the 0:0 character device, or (xattr form) a file marked user.overlay.whiteout.</summary>
    private static bool IsWhiteout(string path, Statx st)
    {
        if ((st.Mode & S_IFMT) == S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0)
            return true;
        return (st.Mode & S_IFMT) == S_IFREG && st.Size == 0 &&
            (GetXattr(path, OverlayXattrPrefix + "whiteout") is not null || GetXattr(path, TrustedOverlayPrefix + "whiteout") is not null);
    }

    private static bool IsOpaque(string path)
    {
        byte[]? v = GetXattr(path, OverlayXattrPrefix + "opaque") ?? GetXattr(path, TrustedOverlayPrefix + "opaque") ?? GetXattr(path, FuseOverlayPrefix + "opaque");
        if (v is { Length: > 0 } && v[0] == (byte)'y')
            return true;
        return File.Exists(Path.Join(path, ".wh..wh..opq"));
    }

    /// <summary>Overlayfs's own attributes, which must never reach the host.</summary>
    public static bool IsOverlayInternal(string xattr) =>
        xattr.StartsWith(OverlayXattrPrefix, StringComparison.Ordinal) || xattr.StartsWith(TrustedOverlayPrefix, StringComparison.Ordinal) ||
        xattr.StartsWith(FuseOverlayPrefix, StringComparison.Ordinal);

    private static bool SameContent(string a, string b)
    {
        try
        {
            using var fa = new FileStream(a, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            using var fb = new FileStream(b, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            byte[] ba = new byte[65536], bb = new byte[65536];
            while (true)
            {
                int na = fa.ReadAtLeast(ba, ba.Length, throwOnEndOfStream: false);
                int nb = fb.ReadAtLeast(bb, bb.Length, throwOnEndOfStream: false);
                if (na != nb || !ba.AsSpan(0, na).SequenceEqual(bb.AsSpan(0, nb)))
                    return false;
                if (na == 0)
                    return true;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // cannot read the host's: treat as changed, the user decides
        }
    }

    internal static string Join(string root, string rel) => rel.Length == 0 ? root : root.TrimEnd('/') + rel;
}
