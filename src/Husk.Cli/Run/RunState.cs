using System.Collections.Immutable;
using Husk.Policy;

namespace Husk.Cli.Run;

/// <summary>What <c>husk run</c>'s options have said so far; <see cref="BuildSpec"/> turns it into a spec.</summary>
internal sealed class RunState
{
    public NamespaceKinds Namespaces = NamespaceKinds.AllButTime;
    public int? UserNsFd;
    public int? PidNsFd;
    public bool? DisableUserns;
    public uint? Uid;
    public uint? Gid;
    public bool MapSubIds;
    public string? Hostname;
    public string FsMode = "overlay";
    public string? RootDir;
    public string? AfterRun;
    public readonly List<string> Include = [];
    public readonly List<string> Exclude = [];
    public readonly List<string> Direct = [];
    /// <summary>The layer of the overlay mode, once planned.</summary>
    public Husk.FileSystem.SandboxRoot? Root;
    /// <summary>True when this run made the root (so discarding it removes the directory).</summary>
    public bool RootIsNew;
    public bool HashOriginals;
    /// <summary>--storage: the writable layer lives in a tmpfs of this size.</summary>
    public long? StorageSize;
    public bool ReadOnly;
    public readonly List<string> Hide = [];
    public bool ShowSecrets;
    public readonly List<MountOp> Mounts = [];
    public long? PendingSize;
    public int? PendingPerms;
    public readonly List<string> OverlaySources = [];
    public string? Chdir;
    public readonly List<Action<Dictionary<string, string>>> EnvEdits = [];
    public string? Argv0;
    public readonly List<int> PassFds = [];
    public bool? NewSession;
    public bool AsPid1;
    public bool Tty;
    public string? Name;
    public int? InfoFd;
    public int? JsonStatusFd;
    public int? SyncFd;
    public int? BlockFd;
    public int? UsernsBlockFd;
    public readonly List<string> LockFiles = [];
    public ResourceLimits Limits = ResourceLimits.None;
    public string? ReportFile;
    public int? ReportFd;
    public string? MetaFile;

    /// <summary>A report of the run is asked for: usage is measured even without limits.</summary>
    public bool WantsReport => ReportFile is not null || ReportFd is not null || MetaFile is not null;
    public List<string> Command = [];

    // Policy.
    public SeccompPolicy SeccompProfile = SeccompProfiles.Default;
    public bool SeccompUnconfined;
    public readonly List<string> AllowSyscalls = [];
    public readonly List<(string Name, int Errno)> DenySyscalls = [];
    public ulong Capabilities;
    /// <summary>--cap-add ALL was given: where the caller's user namespace is shared, that is every capability the caller has.</summary>
    public bool CapAddAll;
    /// <summary>off, on or strict; null: on, but off with --allow-userns (Landlock forbids every mount, so nested sandboxes).</summary>
    public string? Landlock;
    public readonly List<ushort> TcpBind = [];
    public readonly List<ushort> TcpConnect = [];
    /// <summary>Profiles being applied, innermost last (to refuse include cycles).</summary>
    internal readonly List<string> ProfileStack = [];

    public void SetSeccompProfile(string nameOrFile)
    {
        SeccompProfile = SeccompProfiles.BuiltIn.TryGetValue(nameOrFile, out var builtIn)
            ? builtIn
            : Profiles.SeccompFile.Load(nameOrFile);
    }

    internal static string SyscallName(string name, string option)
    {
        if (!SyscallTable.IsKnown(name))
            throw new UsageException($"husk run: {option}: unknown system call: {name}");
        return name;
    }

    internal static (string, int) DenyRule(string value) =>
        ParseDenial(value) is var (name, errno, problem) && problem is null
            ? (name, errno)
            : throw new UsageException($"husk run: --deny-syscall: {problem}");

    /// <summary>"NAME[:ERRNO]" (errno a name or number, EPERM when left out), or the problem with it.</summary>
    internal static (string Name, int Errno, string? Problem) ParseDenial(string value)
    {
        int colon = value.IndexOf(':');
        string name = colon < 0 ? value : value[..colon];
        if (!SyscallTable.IsKnown(name))
            return (name, 0, $"unknown system call: {name}");
        int errno = 1;
        if (colon >= 0 && !ErrnoNames.TryParse(value[(colon + 1)..], out errno))
            return (name, 0, $"not an errno name or number: {value[(colon + 1)..]}");
        return (name, errno, null);
    }

    /// <summary>
    /// The capabilities the payload can keep when it shares the caller's user namespace: only those
    /// the caller has. ALL gives those; a capability named that the caller lacks is a usage error naming it.
    /// </summary>
    internal static ulong KeepableCapabilities(ulong requested, bool all, ulong held)
    {
        ulong missing = requested & ~held;
        if (missing == 0)
            return requested;
        if (all)
            return requested & held;
        var names = Enumerable.Range(0, 64).Where(c => (missing & (1UL << c)) != 0).Select(CapabilityNames.Name).ToList();
        throw new UsageException($"husk run: --cap-add {string.Join(", ", names)}: the caller does not have {(names.Count == 1 ? "it" : "them")}, and with --share-user the payload keeps only the caller's capabilities");
    }

    /// <summary>
    /// Allowing a call that creates namespaces does not make nested user namespaces possible
    /// (max_user_namespaces is 0 inside: they fail with ENOSPC); asked for without saying which is
    /// meant, that is a usage error naming --allow-userns.
    /// </summary>
    internal void CheckNamespaceCalls()
    {
        if (DisableUserns is not null || !Namespaces.HasFlag(NamespaceKinds.User) || UserNsFd is not null)
            return;
        if (AllowSyscalls.FirstOrDefault(c => c is "unshare" or "clone" or "clone3") is { } call)
            throw new UsageException($"husk run: --allow-syscall {call}: nested user namespaces stay impossible inside (they fail with ENOSPC): add --allow-userns to allow them, or --disable-userns to keep them off");
    }

    internal static ulong CapabilityMask(string name, string option)
    {
        if (name.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            return CapabilityNames.All;
        if (!CapabilityNames.TryParse(name, out int cap))
            throw new UsageException($"husk run: {option}: unknown capability: {name}");
        return 1UL << cap;
    }

    /// <summary>The seccomp filter the options describe, or none.</summary>
    internal SeccompPolicy? EffectiveSeccomp() =>
        PolicyDefaults.Seccomp(SeccompProfile, SeccompUnconfined, AllowSyscalls, DenySyscalls, allowUserNamespaces: DisableUserns == false);

    /// <summary>The Landlock policy the options describe for these mounts, or none.</summary>
    internal LandlockPolicy? EffectiveLandlock(IEnumerable<MountOp> mounts) =>
        PolicyDefaults.Landlock(Landlock, allowUserNamespaces: DisableUserns == false, mounts, TcpBind, TcpConnect);

    public long? TakeSize()
    {
        var s = PendingSize;
        PendingSize = null;
        return s;
    }

    public int? TakePerms()
    {
        var p = PendingPerms;
        PendingPerms = null;
        return p;
    }

    public void AddMount(MountOp op)
    {
        if (op is not TmpfsMount && PendingSize is not null)
            throw new UsageException("husk run: --size must be followed by --tmpfs");
        Mounts.Add(op);
    }

    public void AddOverlay(string dst, OverlayKind kind, string? upper, string? work, string option)
    {
        if (OverlaySources.Count == 0)
            throw new UsageException($"husk run: {option} needs at least one --overlay-src before it");
        if (kind == OverlayKind.ReadOnly && OverlaySources.Count < 2)
            throw new UsageException("husk run: --ro-overlay needs at least two --overlay-src before it");
        Mounts.Add(new OverlayMount(dst, [.. OverlaySources]) { Kind = kind, Upper = upper, Work = work });
        OverlaySources.Clear();
    }

    /// <summary>The names --fs takes as modes; any other word is a directory.</summary>
    private static readonly string[] Modes = ["overlay", "ro", "tmpfs", "host"];

    /// <summary>The mounts of the filesystem mode, before the user's own operations.</summary>
    private List<MountOp> BaseMounts(string? home)
    {
        var mounts = new List<MountOp>();
        string mode = FsMode == "overlay" && ReadOnly ? "ro" : FsMode;
        if (Modes.Contains(FsMode) && Directory.Exists(FsMode))
            StandardError.WriteLine($"husk run: --fs {FsMode}: taken as the mode; for the directory of that name write --fs ./{FsMode}");
        switch (mode)
        {
            case "overlay":
                mounts.AddRange(PlanOverlay());
                break;
            case "ro":
                mounts.AddRange(SandboxSpecBuilder.HostEntriesReadOnly());
                break;
            case "host":
                mounts.Add(new BindMount("/", "/") { ReadOnly = ReadOnly, Devices = true });
                mounts.Add(new ProcMount("/proc"));
                return mounts;
            case "tmpfs":
                // microbox's ephemeral root: empty, writable, in memory (--storage caps it), gone
                // with the sandbox. Mounted on the root, so Landlock's mirror of the mounts lets it be written.
                if (!ReadOnly)
                    mounts.Add(new TmpfsMount("/") { Mode = 0x1ED, Size = StorageSize });
                break;
            default:
                string dir = Path.GetFullPath(FsMode);
                if (!Directory.Exists(dir))
                {
                    throw new UsageException(FsMode.StartsWith('/') || FsMode.StartsWith('.')
                        ? $"husk run: --fs: not a directory: {FsMode}"
                        : $"husk run: --fs: unknown mode {FsMode}: use overlay, ro, tmpfs, host or a directory path");
                }
                // Overlaid, so the payload may write while the directory stays as it was; the
                // writes vanish with the sandbox (--readonly: a read-only bind instead).
                mounts.Add(ReadOnly ? new BindMount(dir, "/") { ReadOnly = true } : new OverlayMount("/", [dir]) { Kind = OverlayKind.Temporary });
                break;
        }
        mounts.Add(new ProcMount("/proc"));
        mounts.Add(new DevMount("/dev"));
        mounts.AddRange(Scratch("/tmp", 0x3FF | 0x200));
        if (mode == "overlay")
            mounts.Add(new BindMount("/sys", "/sys") { ReadOnly = true, Optional = true });
        if (mode is "ro" or "overlay")
        {
            mounts.AddRange(Scratch("/var/tmp", 0x3FF | 0x200));
            // Sockets of the user's session (agents, the bus) live under /run; a read-only bind would
            // not stop connect(), so /run is fresh.
            mounts.AddRange(Scratch("/run", 0x1ED));
            if (!ShowSecrets)
            {
                mounts.AddRange(Husk.FileSystem.Hiding.HideHomeSecrets(home));
                mounts.AddRange(Husk.FileSystem.Hiding.HideSystemSecrets());
            }
            if (mode == "overlay" && Husk.FileSystem.Hiding.ProtectEngine() is { } engine)
                mounts.Add(engine);
        }
        foreach (string path in Hide)
            mounts.Add(Husk.FileSystem.Hiding.Hide(path) ?? throw new UsageException($"husk run: --hide: no such file or directory: {path}"));
        foreach (string path in Direct)
        {
            if (!System.IO.Path.Exists(path))
                throw new UsageException($"husk run: --direct: no such file or directory: {path}");
            mounts.Add(new BindMount(path, path));
        }
        return mounts;
    }

    /// <summary>
    /// A fresh, empty /tmp, /var/tmp or /run: its own tmpfs; with --storage a directory of the
    /// capped tmpfs the layer lives in, so that everything the sandbox writes shares that one size.
    /// </summary>
    private IEnumerable<MountOp> Scratch(string path, int mode)
    {
        if (StorageSize is null)
            return [new TmpfsMount(path) { Mode = mode }];
        string inStorage = "/scratch" + path;
        return [new MakeDirectory(inStorage) { Mode = mode, InStorage = true }, new BindMount(inStorage, path) { SourceRoot = SourceRoot.Storage }];
    }

    /// <summary>The overlay mode's mounts; creates (or resumes) the root holding the layer.</summary>
    private List<MountOp> PlanOverlay()
    {
        if (!Namespaces.HasFlag(NamespaceKinds.User) && Interop.Interop.GetUid() != 0)
            throw new UsageException("husk run: --fs overlay needs a user namespace: drop --share-user, or use --fs ro");
        string path = RootDir is not null ? System.IO.Path.GetFullPath(RootDir) : Husk.FileSystem.SandboxRoot.DefaultLocation(Registry.SandboxRegistry.NewId());
        RootIsNew = Husk.FileSystem.SandboxRoot.Open(path) is null;
        try
        {
            Root = Husk.FileSystem.SandboxRoot.CreateOrOpen(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"husk run: --root {path}: {ErrorText.Detail(e, path)}");
        }
        // The root's directory is overlaid whole, the root itself covered (no read-only scaffolding there).
        var plan = Husk.FileSystem.OverlayPlanner.Plan(Husk.FileSystem.HostMounts.Read(), Root.Path,
            Husk.FileSystem.OverlayPlanner.ListHost, Husk.FileSystem.OverlayPlanner.HostMode, new() { CoverStorage = true });
        if (plan.ReadOnlyNote(Chdir ?? Directory.GetCurrentDirectory()) is { } note)
            StandardError.WriteLine("husk run: " + note);
        var ancestors = new List<string> { Directory.GetCurrentDirectory() };
        if (Environment.GetEnvironmentVariable("HOME") is { Length: > 1 } home)
            ancestors.Add(home);
        if (Chdir is { } chdir && chdir.StartsWith('/'))
            ancestors.Add(chdir);
        // A session's layer on disk cannot sit under the tmpfs one as a lower layer: overlayfs
        // refuses a lower inside another lower of the same filesystem ("overlapping lowerdir").
        if (StorageSize is not null && !RootIsNew && Root.Changes().Count > 0)
            throw new UsageException($"husk run: --storage cannot resume {path}, which holds changes: commit or discard them (husk commit|discard), or run without --storage");
        Root.PrepareAncestors(plan.Layers, ancestors);
        if (HashOriginals && RootIsNew)
            Root.HashOriginals([Directory.GetCurrentDirectory()]);
        Root.PrepareLayers(plan.Layers);
        if (StorageSize is null)
            return [.. plan.Mounts];
        // The layer's skeleton on disk (the directories prepared above, with the modes they were
        // given) comes first, so copy-up never has to make a directory the caller's ids cannot own.
        var skeleton = new List<MountOp> { new MakeDirectory(StorageLayer) { Mode = 0x1ED, InStorage = true } };
        foreach (string dir in Directory.EnumerateDirectories(Root.UpperDir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Order(StringComparer.Ordinal))
        {
            if (Interop.Interop.TryStat(dir, out var st, followSymlinks: false) == 0 && (st.Mode & Interop.Interop.S_IFMT) == Interop.Interop.S_IFDIR)
                skeleton.Add(new MakeDirectory(StorageLayer + dir[Root.UpperDir.Length..]) { Mode = st.Mode & 0xFFF, InStorage = true });
        }
        return [.. skeleton, .. plan.Mounts.Select(InStorage)];
    }

    /// <summary>
    /// With --storage, an overlay's upper and work directories move from the root on disk to the
    /// sandbox's capped tmpfs, under the same names; <see cref="MergeStorage"/> brings them back.
    /// </summary>
    private MountOp InStorage(MountOp op)
    {
        if (op is not OverlayMount { Kind: OverlayKind.Persistent, Upper: { } upper, Work: { } work } o || !Husk.FileSystem.HostMounts.IsUnder(upper, Root!.UpperDir))
            return op;
        return o with
        {
            UpperRoot = SourceRoot.Storage,
            Upper = StorageLayer + upper[Root.UpperDir.Length..],
            Work = StorageWork + work[Root.WorkDir.Length..],
            UpperMode = Interop.Interop.TryStat(upper, out var st) == 0 ? st.Mode & 0xFFF : 0x1ED,
        };
    }

    private const string StorageLayer = "/layer/upperdir", StorageWork = "/layer/workdir";

    /// <summary>Moves the layer a --storage session kept in its tmpfs into the root on disk.</summary>
    public void MergeStorage(Husk.Interop.SafeFd? storage)
    {
        if (StorageSize is null || Root is null)
            return;
        if (storage is null)
            throw new IOException("the sandbox did not hand over its storage");
        string source = $"/proc/self/fd/{storage.Fd}{StorageLayer}";
        if (Directory.Exists(source))
            Husk.FileSystem.LayerMerge.Merge(source, Root.UpperDir);
    }

    /// <summary>
    /// The limits, and the pipes they need: standard output and error go through husk (counted)
    /// when an output limit or a report is asked for, except with --tty.
    /// </summary>
    private SandboxSpec WithLimits(SandboxSpec spec)
    {
        var limits = WantsReport ? Limits with { MeasureUsage = true } : Limits;
        spec = spec with { Limits = limits };
        if (limits.IsSupervised && !Tty && (limits.OutputBytes is not null || WantsReport))
            spec = spec with { StandardOutput = StdioMode.Pipe, StandardError = StdioMode.Pipe };
        return spec;
    }

    public SandboxSpec BuildSpec()
    {
        if (PendingSize is not null)
            throw new UsageException("husk run: --size must be followed by --tmpfs");
        if (PendingPerms is not null)
            throw new UsageException("husk run: --perms must be followed by --tmpfs, --dir or --write");
        if (OverlaySources.Count > 0)
            throw new UsageException("husk run: --overlay-src must be followed by --overlay, --tmp-overlay or --ro-overlay");
        if (Command.Count == 0)
            throw new UsageException("husk run: no command given: husk run [OPTIONS] -- COMMAND [ARGS...]");
        if (UsernsBlockFd is not null && InfoFd is null)
            throw new UsageException("husk run: --userns-block-fd needs --info-fd");
        CheckNamespaceCalls();
        ulong capabilities = Namespaces.HasFlag(NamespaceKinds.User) || UserNsFd is not null || Capabilities == 0
            ? Capabilities
            : KeepableCapabilities(Capabilities, CapAddAll, ProcessCapabilities.Current().Permitted);

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            env[(string)e.Key] = (string?)e.Value ?? "";
        foreach (var edit in EnvEdits)
            edit(env);

        string? home = Environment.GetEnvironmentVariable("HOME");
        var mounts = Namespaces.HasFlag(NamespaceKinds.Mount) ? BaseMounts(home) : [];
        mounts.AddRange(Mounts);
        // The root of our own turns read-only once every op ran: only layers and binds take writes.
        if (FsMode is "ro" or "overlay" || (FsMode == "tmpfs" && ReadOnly))
            mounts.Add(new RemountReadOnly("/"));

        var fds = PassFds.Select(fd => new FdMapping(fd, fd)).ToImmutableArray();
        if (SyncFd is { } sync)
            fds = fds.Add(new FdMapping(sync, sync));
        bool newSession = NewSession ?? !Tty;
        var spec = new SandboxSpec
        {
            Command = [.. Command],
            Argv0 = Argv0,
            Namespaces = UserNsFd is not null ? Namespaces & ~NamespaceKinds.User : Namespaces,
            UserNamespaceFd = UserNsFd,
            PidNamespaceFd = PidNsFd,
            // On by default where it can be (a new user namespace); asked for explicitly, validation says why not.
            DisableUserNamespaces = DisableUserns ?? (Namespaces.HasFlag(NamespaceKinds.User) && UserNsFd is null),
            Identity = new Identity
            {
                Uid = Uid,
                Gid = Gid,
                Mapping = UsernsBlockFd is not null ? IdMapping.External : MapSubIds ? IdMapping.SubordinateRange : IdMapping.Auto,
            },
            Hostname = Namespaces.HasFlag(NamespaceKinds.Uts) ? Hostname ?? "husk" : Hostname,
            Mounts = Namespaces.HasFlag(NamespaceKinds.Mount) ? [.. mounts] : null,
            Environment = [.. env.Select(kv => $"{kv.Key}={kv.Value}")],
            WorkingDirectory = Chdir,
            NewSession = newSession,
            AsPid1 = AsPid1,
            Fds = fds,
            SyncFd = SyncFd,
            BlockFd = BlockFd,
            LockFiles = [.. LockFiles],
            Capabilities = PolicyDefaults.Capabilities(capabilities),
            RootTmpfs = new() { Size = StorageSize, KeepOpen = StorageSize is not null && Root is not null },
            NoNewPrivileges = true,
            SeccompPrograms = EffectiveSeccomp() is { } seccomp ? [SeccompCompiler.Compile(seccomp)] : [],
            Landlock = Namespaces.HasFlag(NamespaceKinds.Mount) ? EffectiveLandlock(mounts) : null,
        };
        spec = WithLimits(spec);
        if (!Namespaces.HasFlag(NamespaceKinds.Mount) && (Mounts.Count > 0 || FsMode is not ("ro" or "overlay")))
            throw new UsageException("husk run: filesystem options need a mount namespace: drop --share-mount");
        return spec;
    }
}
