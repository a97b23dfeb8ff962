using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Launch;

/// <summary>
/// The one place that says what each filesystem mode (<see cref="FileSystemSpec"/>) mounts: the
/// base tree before the spec's own operations, and what follows them (the root turning read-only).
/// Pure: host facts come from <see cref="HostContext.FileSystem"/>, the host overlay from its layout.
/// </summary>
internal static class BaseTree
{
    /// <summary>The whole mount list of <paramref name="spec"/>: base tree, hidden paths, the spec's operations, the closing remount.</summary>
    public static List<MountOp> Mounts(SandboxSpec spec, HostContext host, HostOverlayLayout? layout, Images.PreparedImage? image = null)
    {
        var mounts = new List<MountOp>();
        // The caller's working directory below /tmp, /var/tmp or /run, shown over the fresh filesystems.
        var workingDirectory = new List<MountOp>();
        var view = host.FileSystem;
        bool standard = true, hostView = false, volatileFresh = true, closeRoot = false;
        switch (spec.FileSystem)
        {
            case InheritFileSystem or BareFileSystem:
                standard = false;
                break;
            case HostFileSystem h:
                mounts.Add(new BindMount("/", "/") { ReadOnly = h.ReadOnly, Devices = true });
                mounts.Add(new ProcMount("/proc"));
                standard = false;
                break;
            case EmptyFileSystem e:
                // microbox's ephemeral root: empty, writable, in memory (the size caps it), gone with
                // the sandbox. A mount of its own on the root, so Landlock's mirror of the mounts lets it be written.
                if (!e.ReadOnly)
                    mounts.Add(new TmpfsMount("/") { Mode = FileModes.Directory, Size = e.Size });
                closeRoot = e.ReadOnly;
                break;
            case RootfsFileSystem r:
                // The directory itself (an OCI bundle's rootfs): writes land in it, and nothing but
                // the spec's own operations is added; read-only once every op ran.
                mounts.Add(new BindMount(r.Path, "/") { Devices = true, AllowSetuid = true });
                standard = false;
                closeRoot = r.ReadOnly;
                break;
            case DirectoryFileSystem d:
                // Overlaid, so the payload may write while the directory stays as it was; the
                // writes vanish with the sandbox (read-only: a read-only bind instead).
                mounts.Add(d.ReadOnly ? new BindMount(d.Path, "/") { ReadOnly = true } : new OverlayMount("/", [d.Path]) { Kind = OverlayKind.Temporary });
                break;
            case ImageFileSystem i:
                // The cached layers stacked as they are (no copy per run): writes go to a tmpfs upper and vanish.
                var lowers = (image ?? throw new InvalidOperationException("the image was not prepared")).Lowers;
                // Read-only too: the mount points of the base (/proc, /dev, /tmp) are made first, then the root closes.
                mounts.Add(new OverlayMount("/", lowers) { Kind = OverlayKind.Temporary });
                closeRoot = i.ReadOnly;
                break;
            case HostReadOnlyFileSystem:
                mounts.AddRange(HostEntriesReadOnly(view));
                hostView = closeRoot = true;
                if (WorkingDirectoryBelowPrivate(spec, host, null) is { } cwd)
                    workingDirectory.Add(new BindMount(cwd, cwd) { ReadOnly = true });
                break;
            case HostOverlayFileSystem o:
                mounts.AddRange((layout ?? throw new InvalidOperationException("the host overlay was not laid out")).Mounts());
                workingDirectory.AddRange(layout.WorkingDirectoryMounts());
                hostView = closeRoot = true;
                volatileFresh = !o.OverlayVolatile;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(spec), spec.FileSystem.GetType().Name, "unknown filesystem mode");
        }
        long? storage = (spec.FileSystem as HostOverlayFileSystem)?.StorageSize;
        if (standard)
        {
            mounts.Add(new ProcMount("/proc"));
            mounts.Add(new DevMount("/dev"));
            if (volatileFresh)
                mounts.AddRange(Scratch("/tmp", 0x3FF | 0x200, storage));
            if (spec.FileSystem is HostOverlayFileSystem)
                mounts.Add(new BindMount("/sys", "/sys") { ReadOnly = true, Optional = true });
            if (hostView)
            {
                if (volatileFresh)
                {
                    mounts.AddRange(Scratch("/var/tmp", 0x3FF | 0x200, storage));
                    // Sockets of the user's session (agents, the bus) live under /run; a read-only
                    // bind would not stop connect(), so /run is fresh.
                    mounts.AddRange(Scratch("/run", 0x1ED, storage));
                    mounts.AddRange(workingDirectory);
                }
                if (!spec.ShowSecrets)
                {
                    mounts.AddRange(Hiding.HideHomeSecrets(spec.SecretsHome ?? host.Home, view));
                    if (host.IsRoot)
                        mounts.AddRange(Hiding.HideSystemSecrets(view));
                }
                if (spec.FileSystem is HostOverlayFileSystem && Hiding.ProtectEngine(host.EnginePath, view) is { } engine)
                    mounts.Add(engine);
            }
        }
        if (layout is not null)
            mounts.AddRange(layout.AfterBase());
        foreach (string path in spec.HiddenPaths)
        {
            if (Hiding.Hide(path, view) is { } hide)
                mounts.Add(hide);
        }
        mounts.AddRange(spec.Mounts);
        // The sandbox's own resolver: a host resolver on 127.0.0.53 is unreachable from its network.
        if (Network.NetworkPlanner.ResolvConfMount(spec) is { } resolv)
            mounts.Add(resolv);
        // The root of the sandbox's own turns read-only once every op ran: only layers and binds take writes.
        if (closeRoot)
            mounts.Add(new RemountReadOnly("/"));
        return mounts;
    }

    /// <summary>The directories the host views give fresh filesystems, hiding the host's.</summary>
    internal static readonly string[] PrivateDirectories = ["/tmp", "/var/tmp", "/run"];

    /// <summary>
    /// The caller's working directory when it lies below one of <see cref="PrivateDirectories"/>
    /// and the spec names none: the sandbox shows it at its place all the same, mounted over the
    /// fresh filesystem. Null otherwise: the directory itself (an empty, private /tmp inside), and
    /// one that cannot be shown (the session's runtime directory, whose sockets are why /run is
    /// private, or the layer's root), where the payload starts in $HOME instead.
    /// </summary>
    internal static string? WorkingDirectoryBelowPrivate(SandboxSpec spec, HostContext host, string? root)
    {
        if (spec.WorkingDirectory is not null)
            return null;
        string cwd = host.WorkingDirectory;
        string? under = PrivateDirectories.FirstOrDefault(d => HostMounts.IsUnder(cwd, d));
        if (under is null || cwd == under)
            return null;
        if (host.RuntimeDirectory is { } runtime && HostMounts.IsUnder(runtime, cwd))
            return null;
        if (root is not null && (HostMounts.IsUnder(cwd, root) || HostMounts.IsUnder(root, cwd)))
            return null;
        return cwd;
    }

    /// <summary>
    /// A fresh, empty /tmp, /var/tmp or /run: its own tmpfs; with a capped layer a directory of the
    /// capped tmpfs the layer lives in, so that everything the sandbox writes shares that one size.
    /// </summary>
    private static IEnumerable<MountOp> Scratch(string path, int mode, long? storage)
    {
        if (storage is null)
            return [new TmpfsMount(path) { Mode = (UnixFileMode)(mode) }];
        string inStorage = "/scratch" + path;
        return [new MakeDirectory(inStorage) { Mode = (UnixFileMode)(mode), InStorage = true }, new BindMount(inStorage, path) { SourceRoot = SourceRoot.Storage }];
    }

    /// <summary>
    /// Each top-level entry of the host read-only (symlinks as symlinks), on a root of the sandbox's
    /// own: new mount points can be made in it, and it turns read-only once every op has run.
    /// </summary>
    internal static IEnumerable<MountOp> HostEntriesReadOnly(IHostFileSystem view)
    {
        foreach (var entry in view.List("/").OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            if (entry.Name is "proc" or "dev" or "tmp" or "run")
                continue;
            string path = "/" + entry.Name;
            if (entry.Kind == EntryKind.Symlink)
                yield return new MakeSymlink(entry.LinkTarget!, path);
            else
                yield return new BindMount(path, path) { ReadOnly = true, Optional = true };
        }
    }
}
