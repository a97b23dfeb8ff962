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
    public static List<MountOp> Mounts(SandboxSpec spec, HostContext host, HostOverlayLayout? layout)
    {
        var mounts = new List<MountOp>();
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
                closeRoot = e.ReadOnly;
                break;
            case DirectoryFileSystem d:
                // Overlaid, so the payload may write while the directory stays as it was; the
                // writes vanish with the sandbox (read-only: a read-only bind instead).
                mounts.Add(d.ReadOnly ? new BindMount(d.Path, "/") { ReadOnly = true } : new OverlayMount("/", [d.Path]) { Kind = OverlayKind.Temporary });
                break;
            case HostReadOnlyFileSystem:
                mounts.AddRange(HostEntriesReadOnly(view));
                hostView = closeRoot = true;
                break;
            case HostOverlayFileSystem o:
                mounts.AddRange((layout ?? throw new InvalidOperationException("the host overlay was not laid out")).Mounts());
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
                }
                if (!spec.ShowSecrets)
                    mounts.AddRange(Hiding.HideHomeSecrets(spec.SecretsHome ?? host.Home, view));
            }
        }
        foreach (string path in spec.HiddenPaths)
        {
            if (Hiding.Hide(path, view) is { } hide)
                mounts.Add(hide);
        }
        mounts.AddRange(spec.Mounts);
        // The root of the sandbox's own turns read-only once every op ran: only layers and binds take writes.
        if (closeRoot)
            mounts.Add(new RemountReadOnly("/"));
        return mounts;
    }

    /// <summary>
    /// A fresh, empty /tmp, /var/tmp or /run: its own tmpfs; with a capped layer a directory of the
    /// capped tmpfs the layer lives in, so that everything the sandbox writes shares that one size.
    /// </summary>
    private static IEnumerable<MountOp> Scratch(string path, int mode, long? storage)
    {
        if (storage is null)
            return [new TmpfsMount(path) { Mode = mode }];
        string inStorage = "/scratch" + path;
        return [new MakeDirectory(inStorage) { Mode = mode, InStorage = true }, new BindMount(inStorage, path) { SourceRoot = SourceRoot.Storage }];
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
