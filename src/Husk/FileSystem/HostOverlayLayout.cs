using System.Globalization;
using System.Text;
using System.Collections.Immutable;
using Husk.Launch;
using Husk.Layers;

namespace Husk.FileSystem;

/// <summary>
/// The host overlay of one run (<see cref="HostOverlayFileSystem"/>): which host directories are
/// overlaid and where their layers live. <see cref="Plan"/> derives it from the host's facts alone;
/// the launcher then <see cref="Prepare"/>s the root on disk before the clone (the layers, the
/// directories on the way to the working and home directories), after which <see cref="Mounts"/>
/// gives the mounts, and after the run the root holds the changes for review.
/// </summary>
internal sealed class HostOverlayLayout
{
    private HostOverlayLayout(HostOverlayFileSystem spec, OverlayPlan plan, OverlayPlan? cwdPlan, IReadOnlyList<string> ancestors, string workingDirectory)
    {
        Spec = spec;
        OverlayPlan = cwdPlan is null ? plan : new OverlayPlan(plan.Mounts, [.. plan.Layers, .. cwdPlan.Layers]);
        _cwdMounts = cwdPlan?.Mounts ?? [];
        Ancestors = ancestors;
        _workingDirectory = workingDirectory;
    }

    private readonly IReadOnlyList<MountOp> _cwdMounts;

    /// <summary>With fuse-overlayfs: the wrapper that mounts the layers inside, then runs the command.</summary>
    public IReadOnlyList<string> CommandPrefix { get; private set; } = [];

    private bool Fuse => Spec.Driver == OverlayDriver.FuseSquashedToRoot;

    private readonly string _workingDirectory;
    private IReadOnlyList<(string Path, int Mode)> _skeleton = [];
    private IReadOnlyDictionary<string, int> _upperModes = ImmutableDictionary<string, int>.Empty;

    /// <summary>What the spec asked for.</summary>
    public HostOverlayFileSystem Spec { get; }

    /// <summary>The overlays and their layers.</summary>
    public OverlayPlan OverlayPlan { get; }

    /// <summary>Directories whose ancestors are created in the layer beforehand (the working and home directories).</summary>
    public IReadOnlyList<string> Ancestors { get; }

    /// <summary>The root on disk, once prepared.</summary>
    public SandboxRoot? Root { get; private set; }

    /// <summary>The root did not exist before this run.</summary>
    public bool RootIsNew { get; private set; }

    /// <summary>Where a capped layer's upper directories live in the sandbox's storage tmpfs.</summary>
    internal const string StorageLayer = "/layer/upperdir", StorageWork = "/layer/workdir";

    /// <summary>Plans the overlays of <paramref name="fs"/> for <paramref name="spec"/>, reading only what <paramref name="host"/> says.</summary>
    public static HostOverlayLayout Plan(HostOverlayFileSystem fs, SandboxSpec spec, HostContext host)
    {
        var view = host.FileSystem;
        var options = new OverlayPlanOptions
        {
            Fresh = fs.OverlayVolatile ? ["/proc", "/dev", "/sys"] : OverlayPlanner.Fresh,
            OverlayVolatile = fs.OverlayVolatile,
            CoverStorage = true,
            Hidden = fs.Hidden,
            Allowed = fs.Allowed,
            LowerRoots = fs.LayerRoots,
            ExtraLowers = fs.ExtraLayers.IsDefaultOrEmpty ? null
                : dir => [.. fs.ExtraLayers.Select(r => Path.Join(r, dir)).Where(d => view.KindOf(d) == EntryKind.Directory)],
        };
        var plan = OverlayPlanner.Plan(view.Mounts(), fs.Root, view.List, view.ModeOf, options);
        // A working directory below /tmp, /var/tmp or /run is overlaid at its place too (planned like
        // any host directory, per mount below it, but only from there down), its writes in the same layer.
        var cwdPlan = !fs.OverlayVolatile && Launch.BaseTree.WorkingDirectoryBelowPrivate(spec, host, fs.Root) is { } cwd
            ? OverlayPlanner.Plan(view.Mounts(), fs.Root, view.List, view.ModeOf, options with { OverlayVolatile = true, Start = cwd })
            : null;
        var ancestors = new List<string> { host.WorkingDirectory };
        if (host.Home is { Length: > 1 } home)
            ancestors.Add(home);
        if (spec.WorkingDirectory is { } chdir && chdir.StartsWith('/'))
            ancestors.Add(chdir);
        return new HostOverlayLayout(fs, plan, cwdPlan, ancestors, host.WorkingDirectory);
    }

    /// <summary>Creates (or resumes) the root and the layers on disk.</summary>
    /// <param name="hostOwners">The host owners the sandbox sees as themselves through root's idmapped layers (null: none).</param>
    public void Prepare(Func<uint, uint, bool>? hostOwners = null)
    {
        string path = Spec.Root;
        RootIsNew = SandboxRoot.Open(path) is null;
        var root = SandboxRoot.CreateOrOpen(path);
        // A session's layer on disk cannot sit under the tmpfs one as a lower layer: overlayfs
        // refuses a lower inside another lower of the same filesystem ("overlapping lowerdir").
        if (Spec.StorageSize is not null && !RootIsNew && root.Changes().Count > 0)
            throw new SandboxSpecException([$"a capped layer cannot resume {path}, which holds changes: commit or discard them first, or run without a cap"]);
        root.PrepareAncestors(OverlayPlan.Layers, Ancestors, Spec.HostModes, hostOwners);
        if (Spec.HashOriginals && RootIsNew)
            root.HashOriginals([_workingDirectory]);
        root.PrepareLayers(OverlayPlan.Layers, Spec.HostModes, hostOwners);
        Root = root;
        if (Fuse)
            CommandPrefix = ["/bin/sh", WriteFuseWrapper(root)];
        if (Spec.StorageSize is null)
            return;
        // The layer's skeleton on disk (the directories prepared above, with the modes they were
        // given) is recreated in the storage first, so copy-up never has to make a directory the
        // caller's ids cannot own.
        var skeleton = new List<(string, int)>();
        foreach (string dir in Directory.EnumerateDirectories(root.UpperDir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
        {
            if (Interop.Interop.TryStat(dir, out var st, followSymlinks: false) == 0 && (st.Mode & Interop.Interop.S_IFMT) == Interop.Interop.S_IFDIR)
                skeleton.Add((dir[root.UpperDir.Length..], (int)(st.Mode & 0xFFF)));
        }
        var modes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var layer in OverlayPlan.Layers)
        {
            if (Interop.Interop.TryStat(layer.Upper, out var st) == 0)
                modes[layer.Upper] = (int)(st.Mode & 0xFFF);
        }
        (_skeleton, _upperModes) = (skeleton, modes);
    }

    /// <summary>
    /// The script that mounts fuse-overlayfs over each overlaid directory inside the sandbox (where
    /// it runs with the sandbox's capabilities), covers the root once the layers are open, enters the
    /// working directory again through the new mounts and runs the command.
    /// </summary>
    private string WriteFuseWrapper(SandboxRoot root)
    {
        string fuse = FindOnPath("fuse-overlayfs") ?? throw new SandboxSpecException(["fuse-overlayfs is not installed (Debian: apt install fuse-overlayfs)"]);
        var script = new StringBuilder("#!/bin/sh\n");
        // The overlay of the directory holding the root goes last: the others find their layers
        // through that path, and must not see them through an overlay.
        var last = new StringBuilder();
        foreach (var layer in OverlayPlan.Layers.Where(l => Interop.Interop.Access(l.Directory, 5) == 0))
        {
            // A directory the caller cannot read (lost+found) cannot be a lower layer: it stays read-only.
            (HostMounts.IsUnder(root.Path, layer.Directory) ? last : script).Append(CultureInfo.InvariantCulture,
                $"{Quote(fuse)} -o {Quote($"lowerdir={layer.Directory},upperdir={layer.Upper},workdir={layer.Work},squash_to_root")} {Quote(layer.Directory)} 2>/dev/null ||\n")
                .Append(CultureInfo.InvariantCulture, $"  echo {Quote($"fuse-overlayfs could not overlay {layer.Directory}: it stays read-only")} >&2\n");
        }
        script.Append(last);
        // The layers are open once mounted: the root leaves the payload's sight, and the working
        // directory is entered again, through the new mount.
        script.Append(CultureInfo.InvariantCulture, $"mount -t tmpfs -o size=1m,mode=0700 tmpfs {Quote(root.Path)}\ncd \"$PWD\" 2>/dev/null || true\nexec \"$@\"\n");
        string wrapper = Path.Join(root.Path, "fuse-overlay.sh");
        File.WriteAllText(wrapper, script.ToString());
        return wrapper;
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Join(d, name)).FirstOrDefault(File.Exists);

    /// <summary>For tests: what <see cref="Prepare"/> would have found on disk, without touching it.</summary>
    internal void AssumePrepared(IReadOnlyList<(string Path, int Mode)> skeleton, IReadOnlyDictionary<string, int> upperModes) =>
        (_skeleton, _upperModes) = (skeleton, upperModes);

    /// <summary>What the driver needs once the base tree is there: fuse-overlayfs's device and the root's layers.</summary>
    public IEnumerable<MountOp> AfterBase() => Fuse
        ? [new BindMount("/dev/fuse", "/dev/fuse") { Devices = true }, new BindMount(Spec.Root, Spec.Root)]
        : [];

    /// <summary>The overlays of a working directory below /tmp, /var/tmp or /run, mounted over those fresh filesystems.</summary>
    public IEnumerable<MountOp> WorkingDirectoryMounts() => _cwdMounts.Select(InStorage);

    /// <summary>With a capped layer, an overlay's upper and work directories move from the root on disk into the storage.</summary>
    private MountOp InStorage(MountOp op)
    {
        string upperDir = Path.Join(Spec.Root, "upperdir"), workDir = Path.Join(Spec.Root, "workdir");
        if (Spec.StorageSize is null || op is not OverlayMount { Kind: OverlayKind.Persistent, Upper: { } upper, Work: { } work } o || !HostMounts.IsUnder(upper, upperDir))
            return op;
        return o with
        {
            UpperRoot = SourceRoot.Storage,
            Upper = StorageLayer + upper[upperDir.Length..],
            Work = StorageWork + work[workDir.Length..],
            UpperMode = (UnixFileMode)(_upperModes.TryGetValue(upper, out int m) ? m : 0x1ED),
        };
    }

    /// <summary>The overlays, with a capped layer's upper and work directories moved into the storage.</summary>
    public IEnumerable<MountOp> Mounts()
    {
        if (Fuse)
        {
            // Each overlaid directory read-only, as the mount point fuse-overlayfs takes inside; the
            // root stays visible (the wrapper covers it once the layers are open).
            return OverlayPlan.Mounts
                .Where(op => !(op is TmpfsMount t && t.Destination == Spec.Root))
                .Select(op => op is OverlayMount o ? new BindMount(o.Destination, o.Destination) { ReadOnly = true } : op)
                .ToList();
        }
        var ops = new List<MountOp>();
        if (Spec.StorageSize is not null)
        {
            ops.Add(new MakeDirectory(StorageLayer) { Mode = FileModes.Directory, InStorage = true });
            foreach (var (path, mode) in _skeleton)
                ops.Add(new MakeDirectory(StorageLayer + path) { Mode = (UnixFileMode)(mode), InStorage = true });
        }
        ops.AddRange(OverlayPlan.Mounts.Select(InStorage));
        // The root is always out of the payload's sight: covered where it lies in an overlaid
        // directory (the plan does that), and elsewhere covered where the tree shows it. Where it
        // does not (its directory is scaffolding without it, or a fresh /tmp, /var/tmp or /run
        // comes over it), there is nothing to cover, and making its place would write the root's
        // path into the layer: a change of the run's own at every review.
        if (!ops.Any(m => m is TmpfsMount t && t.Destination == Spec.Root))
            ops.Add(new TmpfsMount(Spec.Root) { Mode = FileModes.Private, Size = 1 << 20, IfPresent = true });
        return ops;
    }

    /// <summary>After the run: removes the layers that stayed empty (their directories), leaving only changes.</summary>
    public void PruneLayers() => Root?.PruneLayers(OverlayPlan.Layers);

    /// <summary>After a capped run: moves the layer kept in the storage tmpfs into the root on disk.</summary>
    public void MergeStorage(Interop.SafeFd? storage)
    {
        if (Spec.StorageSize is null || Root is null)
            return;
        if (storage is null)
            throw new IOException("the sandbox did not hand over its storage");
        string source = $"/proc/self/fd/{storage.Fd}{StorageLayer}";
        if (Directory.Exists(source))
            LayerMerge.Merge(source, Root.UpperDir);
    }
}
