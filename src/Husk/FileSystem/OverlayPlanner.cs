namespace Husk.FileSystem;

/// <summary>An entry of a host directory, as the overlay planner needs it.</summary>
internal readonly record struct DirectoryEntry(string Name, EntryKind Kind, int Mode, string? LinkTarget = null);

/// <summary>What a directory entry is.</summary>
internal enum EntryKind
{
    /// <summary>A directory.</summary>
    Directory,
    /// <summary>A regular file.</summary>
    File,
    /// <summary>A symbolic link.</summary>
    Symlink,
    /// <summary>A device, socket or FIFO.</summary>
    Other,
}

/// <summary>One overlay: the host directory that is its lower layer and where its upper and work live.</summary>
internal sealed record OverlayLayer(string Directory, string Upper, string Work, int Mode);

/// <summary>The filesystem operations of the overlay mode, and the layers to create before the run.</summary>
internal sealed record OverlayPlan(IReadOnlyList<MountOp> Mounts, IReadOnlyList<OverlayLayer> Layers)
{
    /// <summary>Directories not overlaid whole, whose existing files stay read-only, and why.</summary>
    public IReadOnlyList<ScaffoldedDirectory> Scaffolded { get; init; } = [];

    /// <summary>
    /// One line saying why files directly in <paramref name="directory"/> (the working directory,
    /// where a user writes first) stay read-only, or null when they do not.
    /// </summary>
    public string? ReadOnlyNote(string directory) => Scaffolded.FirstOrDefault(s => s.Directory == directory) is { } d
        ? d.NewEntries
            ? $"existing files directly in {d.Directory} stay read-only in the sandbox ({d.Reason}: overlayfs cannot take it whole); new files and its subdirectories can change"
            : $"{d.Directory} itself stays read-only in the sandbox ({d.Reason}); its subdirectories can change"
        : null;
}

/// <summary>A directory rebuilt entry by entry: <see cref="NewEntries"/> when new files can still be made in it.</summary>
internal sealed record ScaffoldedDirectory(string Directory, string Reason, bool NewEntries);

/// <summary>Choices a front door makes about the overlay view; the defaults are <c>husk run</c>'s.</summary>
internal sealed record OverlayPlanOptions
{
    /// <summary>Paths left to fresh filesystems (the front door mounts them), never overlaid.</summary>
    public IReadOnlyList<string> Fresh { get; init; } = OverlayPlanner.Fresh;

    /// <summary>Overlay what is mounted below /run, /tmp and /var/tmp too (try shows the host's there).</summary>
    public bool OverlayVolatile { get; init; }

    /// <summary>
    /// Overlay a directory whole even when the storage is inside it, and cover the storage with an
    /// empty tmpfs right after. The kernel refuses a lower layer nested in another at mount time,
    /// but an upper inside a lower only fails (ELOOP) when looked up through the overlay, which
    /// the cover prevents. Without it such a directory becomes scaffolding, and nothing can be
    /// created directly in it (a storage in /tmp would make /tmp itself read-only).
    /// </summary>
    public bool CoverStorage { get; init; }

    /// <summary>
    /// Further lower layers of the overlay of a host directory, put above it (the last given on
    /// top): try's hide layer and its -L sandboxes. Given the host directory, returns existing
    /// directories only.
    /// </summary>
    public Func<string, IReadOnlyList<string>>? ExtraLowers { get; init; }

    /// <summary>
    /// Where <see cref="ExtraLowers"/> come from: a directory containing one of these is never
    /// overlaid whole, since overlayfs refuses a lower layer inside another (ELOOP), and, like
    /// the storage, they stay out of the payload's sight.
    /// </summary>
    public IReadOnlyList<string> LowerRoots { get; init; } = [];

    /// <summary>
    /// Paths that do not exist in the sandbox (mbox's <c>hide:</c>): left out of the view, and
    /// the directories holding them are scaffolding (read-only) so that they can be left out.
    /// </summary>
    public IReadOnlyList<string> Hidden { get; init; } = [];

    /// <summary>Paths inside hidden ones that are shown after all (mbox's <c>allow:</c>, which takes precedence).</summary>
    public IReadOnlyList<string> Allowed { get; init; } = [];

    /// <summary>
    /// The directory whose tree is planned (default: the whole host, /). A directory below a fresh
    /// filesystem (the working directory under /tmp) is planned on its own, to be mounted over it.
    /// </summary>
    public string Start { get; init; } = "/";
}

/// <summary>
/// Plans the overlay view of the host: the program sees the host's tree and can change it, every
/// write landing in a layer under the sandbox root (<c>upperdir/&lt;path&gt;</c>, try's layout).
/// Overlayfs refuses a lower directory with mounts below it (the kernel keeps those locked) and
/// one that contains the upper layer (ELOOP), so a directory is overlaid whole only when neither
/// holds; otherwise it is rebuilt as scaffolding and its entries are planned one by one, down to
/// the mount points, which get overlays of their own. A directory with only mounts below it stays
/// writable: its own overlay has a stand-in of its entries as lower (new entries land in its
/// layer), and the entries are covered on top. Existing files directly in scaffolding cannot
/// change (they are bound read-only), nor can anything directly in the root or in a directory that
/// holds hidden paths, the storage or extra lower layers.
/// </summary>
internal static class OverlayPlanner
{
    /// <summary>Keep the upper layer plain: whiteouts and opaque marks only, no redirects or metacopy.</summary>
    private static readonly System.Collections.Immutable.ImmutableArray<string> PlainUpper = ["redirect_dir=nofollow", "index=off", "metacopy=off"];

    /// <summary>Paths that get fresh filesystems instead of overlays (the CLI adds those mounts).</summary>
    public static readonly string[] Fresh = ["/proc", "/dev", "/tmp", "/var/tmp", "/run", "/sys"];

    /// <param name="mounts">The host's mount table.</param>
    /// <param name="storage">The sandbox root: its upperdir/ and workdir/ hold the layers.</param>
    /// <param name="list">Lists a host directory (the planner itself touches nothing).</param>
    /// <param name="modeOf">The mode of a host directory.</param>
    /// <param name="options">The front door's choices (null: husk run's).</param>
    public static OverlayPlan Plan(IReadOnlyList<HostMount> mounts, string storage, Func<string, IEnumerable<DirectoryEntry>> list, Func<string, int> modeOf,
        OverlayPlanOptions? options = null)
    {
        options ??= new OverlayPlanOptions();
        var fresh = options.Fresh;
        var overlayable = new HashSet<string>(HostMounts.Overlayable(mounts, options.OverlayVolatile), StringComparer.Ordinal);
        var mountPoints = new HashSet<string>(mounts.Select(m => m.MountPoint), StringComparer.Ordinal);
        var ops = new List<MountOp>();
        var layers = new List<OverlayLayer>();
        var scaffolded = new List<ScaffoldedDirectory>();

        bool IsHidden(string path) =>
            options.Hidden.Any(h => HostMounts.IsUnder(path, h)) && !options.Allowed.Any(a => HostMounts.IsUnder(path, a));
        bool AllowedBelow(string path) => options.Allowed.Any(a => a != path && HostMounts.IsUnder(a, path));

        bool MountsBelow(string dir) => mountPoints.Any(m => m != dir && HostMounts.IsUnder(m, dir));
        bool BlockedOtherwise(string dir) =>
            options.Hidden.Any(h => h != dir && HostMounts.IsUnder(h, dir)) ||
            (IsHidden(dir) && AllowedBelow(dir)) ||
            (HostMounts.IsUnder(storage, dir) && (!options.CoverStorage || storage == dir)) ||
            options.LowerRoots.Any(r => HostMounts.IsUnder(r, dir));

        string Reason(string dir) =>
            mountPoints.Where(m => m != dir && HostMounts.IsUnder(m, dir)).Order(StringComparer.Ordinal).FirstOrDefault() is { } below && !BlockedOtherwise(dir)
                ? $"{below} is a mount point below it"
                : HostMounts.IsUnder(storage, dir) ? "the sandbox's root is in it"
                : options.LowerRoots.Any(r => HostMounts.IsUnder(r, dir)) ? "other sandboxes' layers are in it"
                : "paths hidden from the sandbox are in it";

        void Cover(string dir)
        {
            if (fresh.Any(f => dir == f))
                return;
            bool mountsBelow = MountsBelow(dir), otherwise = BlockedOtherwise(dir);
            string upper = Path.Join(storage, "upperdir", dir);
            string work = Path.Join(storage, "workdir", dir);
            if (!mountsBelow && !otherwise)
            {
                layers.Add(new OverlayLayer(dir, upper, work, modeOf(dir)));
                ops.Add(new OverlayMount(dir, [dir, .. options.ExtraLowers?.Invoke(dir) ?? []])
                {
                    Kind = OverlayKind.Persistent,
                    Upper = upper,
                    Work = work,
                    Options = PlainUpper,
                    // A directory can vanish between planning and mounting (a build's in /tmp).
                    Optional = dir != "/",
                });
                if (options.CoverStorage && HostMounts.IsUnder(storage, dir))
                    ops.Add(new TmpfsMount(storage) { Mode = FileModes.Private, Size = 1 << 20 });
                return;
            }
            var entries = new List<(string Path, DirectoryEntry Entry)>();
            foreach (var entry in list(dir).OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                string path = dir == "/" ? "/" + entry.Name : dir + "/" + entry.Name;
                if (HostMounts.IsUnder(path, storage) || options.LowerRoots.Any(r => HostMounts.IsUnder(path, r)))
                    continue; // the sandbox root (and other layers) stay out of sight
                if (IsHidden(path) && !AllowedBelow(path))
                    continue;
                entries.Add((path, entry));
            }
            // Only mounts below it in the way: the directory stays writable. Its overlay's lower is
            // a stand-in in the storage, an entry of the same name and kind for each of its entries;
            // the entries are then covered one by one on top (new files land in its upper).
            bool writable = dir != "/" && !otherwise && options.ExtraLowers is null;
            scaffolded.Add(new ScaffoldedDirectory(dir, Reason(dir), writable));
            if (writable)
            {
                string standIn = "/scaffold" + dir;
                ops.Add(new MakeDirectory(standIn) { Mode = FileModes.Directory, InStorage = true });
                foreach (var (path, entry) in entries)
                {
                    string at = standIn + path[dir.Length..];
                    switch (entry.Kind)
                    {
                        case EntryKind.Directory:
                            ops.Add(new MakeDirectory(at) { Mode = (UnixFileMode)(entry.Mode), InStorage = true });
                            break;
                        case EntryKind.Symlink:
                            ops.Add(new MakeSymlink(entry.LinkTarget!, at) { InStorage = true });
                            break;
                        case EntryKind.File:
                            ops.Add(new WriteFile(at) { Mode = (UnixFileMode)(entry.Mode), InStorage = true });
                            break;
                    }
                }
                layers.Add(new OverlayLayer(dir, upper, work, modeOf(dir)));
                ops.Add(new OverlayMount(dir, [standIn])
                {
                    LowerRoot = SourceRoot.Storage,
                    Kind = OverlayKind.Persistent,
                    Upper = upper,
                    Work = work,
                    Options = PlainUpper,
                    Optional = true,
                });
            }
            else if (dir != "/")
            {
                ops.Add(new MakeDirectory(dir) { Mode = (UnixFileMode)(modeOf(dir)) });
            }
            foreach (var (path, entry) in entries)
            {
                if (mountPoints.Contains(path) && !overlayable.Contains(path))
                {
                    if (!fresh.Contains(path) && !writable)
                        ops.Add(new MakeDirectory(path) { Mode = (UnixFileMode)(entry.Mode) }); // a virtual filesystem's place, left empty
                    continue;
                }
                switch (entry.Kind)
                {
                    case EntryKind.Directory:
                        Cover(path);
                        break;
                    case EntryKind.Symlink when !writable:
                        ops.Add(new MakeSymlink(entry.LinkTarget!, path));
                        break;
                    case EntryKind.File:
                        ops.Add(new BindMount(path, path) { ReadOnly = true, Optional = true, LayerView = mountPoints.Contains(path) ? path : dir });
                        break;
                    default:
                        break; // sockets and devices outside /dev are not the sandbox's business
                }
            }
        }

        Cover(options.Start);
        return new OverlayPlan(ops, layers) { Scaffolded = scaffolded };
    }

    /// <summary>Lists a directory of the host for <see cref="Plan"/>.</summary>
    public static IEnumerable<DirectoryEntry> ListHost(string dir)
    {
        IEnumerable<string> names;
        try
        {
            names = Directory.EnumerateFileSystemEntries(dir).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (string path in names)
        {
            if (Interop.Interop.TryStat(path, out var st, followSymlinks: false) != 0)
                continue;
            uint type = st.Mode & Interop.Interop.S_IFMT;
            var kind = type switch
            {
                Interop.Interop.S_IFDIR => EntryKind.Directory,
                Interop.Interop.S_IFREG => EntryKind.File,
                Interop.Interop.S_IFLNK => EntryKind.Symlink,
                _ => EntryKind.Other,
            };
            string? target = kind == EntryKind.Symlink ? new FileInfo(path).LinkTarget : null;
            yield return new DirectoryEntry(Path.GetFileName(path), kind, st.Mode & 0xFFF, target);
        }
    }

    /// <summary>The mode of a host directory (0755 when it cannot be read).</summary>
    public static int HostMode(string dir) =>
        Interop.Interop.TryStat(dir, out var st) == 0 ? st.Mode & 0xFFF : 0x1ED;
}
