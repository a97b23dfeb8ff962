using Husk.Policy;

namespace Husk.Cli.Run;

/// <summary>What happens to the layer of the overlay mode when the run ends.</summary>
internal enum LayerFate
{
    /// <summary>Review in a terminal; otherwise keep.</summary>
    Ask,
    /// <summary>Keep it for later (<c>--keep</c>).</summary>
    Keep,
    /// <summary>Commit it (<c>--commit</c>).</summary>
    Commit,
    /// <summary>Throw it away (<c>--discard</c>).</summary>
    Discard,
}

/// <summary>
/// What <c>husk run</c>'s options have said: the sandbox itself as a <see cref="SandboxSpecBuilder"/>
/// (the library's builder, so the command line and the library make the same sandboxes), plus the
/// command line's own concerns: options that only mean something together (the filesystem mode,
/// its root and storage, --size before --tmpfs), the layer's fate, reports and descriptors.
/// <see cref="ToSpec"/> resolves them; nothing here touches the disk.
/// </summary>
internal sealed class RunArguments
{
    /// <summary>The sandbox as the options describe it so far.</summary>
    public SandboxSpecBuilder Spec = new("/bin/true");

    public string FsMode = "overlay";
    /// <summary>--image: an OCI image as the root.</summary>
    public string? Image;
    /// <summary>--entrypoint: replaces the image's entrypoint ("" for none).</summary>
    public string? Entrypoint;
    /// <summary>The environment before the options: with --image, only what the options set goes over the image's.</summary>
    public System.Collections.Immutable.ImmutableArray<string> StartEnvironment = [];
    public string? RootDir;
    public LayerFate AfterRun;
    public readonly List<string> Include = [];
    public readonly List<string> Exclude = [];
    public readonly List<string> Direct = [];
    public readonly List<string> Hide = [];
    public bool HashOriginals;
    /// <summary>--storage: the writable layer lives in a tmpfs of this size.</summary>
    public long? StorageSize;
    public bool ReadOnly;
    public bool SeccompUnconfined;
    /// <summary>--cap-add ALL was given: where the caller's user namespace is shared, that is every capability the caller has.</summary>
    public bool CapAddAll;
    public long? PendingSize;
    public UnixFileMode? PendingPerms;
    public readonly List<string> OverlaySources = [];
    public bool? NewSession;
    public bool Tty;
    public string? Name;
    public int? InfoFd;
    public int? JsonStatusFd;
    public int? SyncFd;
    public int? BlockFd;
    public int? UsernsBlockFd;
    public readonly List<string> LockFiles = [];
    public string? ReportFile;
    public int? ReportFd;
    public string? MetaFile;
    /// <summary>--net-summary: list the sandbox's network activity on stderr at exit.</summary>
    public bool NetSummary;

    /// <summary>--log-level; null with --log-format alone means errors only.</summary>
    public Husk.Logging.LogLevel? LogLevel;
    /// <summary>--log-format: null when not given.</summary>
    public bool? LogJson;
    /// <summary>The log, when --log-level or --log-format asked for one (made by <see cref="ToSpec"/>).</summary>
    public LogSink? Log;
    /// <summary>--trace's set, as written; null: no trace.</summary>
    public Husk.Tracing.SyscallSet? TraceSet;
    public string? TraceOutput;
    public TraceFormat? TraceFormat;
    public bool CountSyscalls;
    public TraceFormat? CountFormat;
    public List<string> Command = [];
    /// <summary>Lines husk run prints before the payload starts: what the sandbox shows otherwise than the caller may expect.</summary>
    public readonly List<string> Notes = [];
    /// <summary>Profiles being applied, innermost last (to refuse include cycles).</summary>
    internal readonly List<string> ProfileStack = [];

    /// <summary>A report of the run is asked for: usage is measured even without limits.</summary>
    public bool WantsReport => ReportFile is not null || ReportFd is not null || MetaFile is not null;

    /// <summary>Applies a change to the sandbox being described.</summary>
    public void Set(Func<SandboxSpecBuilder, SandboxSpecBuilder> change) => Spec = change(Spec);

    /// <summary>
    /// One of husk run's error lines ("husk run: ..."): as it is, or with --log-format json as an
    /// error line of the log, so a reader of JSON lines gets it too.
    /// </summary>
    public void Error(string line)
    {
        if (Log is { Json: true } log)
            log.Write(Husk.Logging.LogLevel.Error, line.StartsWith("husk run: ", StringComparison.Ordinal) ? line["husk run: ".Length..] : line.StartsWith("husk: ", StringComparison.Ordinal) ? line["husk: ".Length..] : line);
        else
            Console.Error.WriteLine(line);
    }

    public void SetSeccompProfile(string nameOrFile) =>
        Set(b => b.SeccompProfile(SeccompProfiles.BuiltIn.TryGetValue(nameOrFile, out var builtIn) ? builtIn : Profiles.SeccompFile.Load(nameOrFile)));

    internal static string SyscallName(string name, string option)
    {
        if (!SyscallTable.IsKnown(name))
            throw new UsageException($"husk run: {option}: unknown system call: {name}");
        return name;
    }

    /// <summary>--trace's SET, or a usage error naming what is unknown.</summary>
    internal static Husk.Tracing.SyscallSet SyscallSet(string expression, string option) =>
        Husk.Tracing.SyscallSet.TryParse(expression, out var set, out string? problem)
            ? set
            : throw new UsageException($"husk run: {option}: {problem}");

    /// <summary>The tracing options as the builder's: --trace (lines to stderr or --trace-output), --count.</summary>
    private SandboxSpecBuilder Tracing(SandboxSpecBuilder b)
    {
        if (TraceSet is null && (TraceOutput is not null || TraceFormat is not null))
            throw new UsageException($"husk run: {(TraceOutput is not null ? "--trace-output" : "--trace-format")} needs --trace");
        if (!CountSyscalls && CountFormat is not null)
            throw new UsageException("husk run: --count-format needs --count");
        if (TraceSet is { } set)
        {
            b = b.Trace(set).TraceEvents(false);
            b = TraceOutput is { } file ? b.TraceOutput(file) : b.TraceOutput(Descriptors.Borrow(2));
            b = b.TraceFormat(TraceFormat ?? Husk.TraceFormat.Text);
        }
        return CountSyscalls ? b.CountSyscalls() : b;
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
    private static void CheckNamespaceCalls(SandboxSpec s)
    {
        if (s.NestedUserNamespaces != NestedUserNamespaces.Auto || !s.Namespaces.HasFlag(NamespaceKinds.User) || s.UserNamespaceFd is not null)
            return;
        if (s.Seccomp.Allow.FirstOrDefault(c => c is "unshare" or "clone" or "clone3") is { } call)
            throw new UsageException($"husk run: --allow-syscall {call}: nested user namespaces stay impossible inside (they fail with ENOSPC): add --allow-userns to allow them, or --disable-userns to keep them off");
    }

    /// <summary>Whether a payload under this filter is refused TIOCSTI and TIOCLINUX, the ioctls that push input into a terminal.</summary>
    internal static bool CannotInjectInput(SeccompPolicy? seccomp) =>
        seccomp is not null && new[] { SeccompProfiles.TIOCSTI, SeccompProfiles.TIOCLINUX }.All(request =>
            seccomp.Decide("ioctl", 0, request).Kind is SeccompActionKind.Errno or SeccompActionKind.KillProcess or SeccompActionKind.KillThread or SeccompActionKind.Trap);

    internal static string Capability(string name, string option) =>
        SandboxSpecBuilder.CapabilityMask(name) is not null ? name : throw new UsageException($"husk run: {option}: unknown capability: {name}");

    public long? TakeSize()
    {
        var s = PendingSize;
        PendingSize = null;
        return s;
    }

    public UnixFileMode? TakePerms()
    {
        var p = PendingPerms;
        PendingPerms = null;
        return p;
    }

    public void AddMount(MountOp op)
    {
        if (op is not TmpfsMount && PendingSize is not null)
            throw new UsageException("husk run: --size must be followed by --tmpfs");
        Set(b => b.Mount(op));
    }

    public void AddOverlay(string dst, OverlayKind kind, string? upper, string? work, string option)
    {
        if (OverlaySources.Count == 0)
            throw new UsageException($"husk run: {option} needs at least one --overlay-src before it");
        if (kind == OverlayKind.ReadOnly && OverlaySources.Count < 2)
            throw new UsageException("husk run: --ro-overlay needs at least two --overlay-src before it");
        var op = new OverlayMount(dst, [.. OverlaySources]) { Kind = kind, Upper = upper, Work = work };
        Set(b => b.Mount(op));
        OverlaySources.Clear();
    }

    private static string? Chdir(SandboxSpec spec) => spec.WorkingDirectory;

    /// <summary>The layer's root: --root, or a new one named after the sandbox's id.</summary>
    public string LayerRoot(string id) =>
        RootDir is not null ? Path.GetFullPath(RootDir) : Husk.Layers.SandboxRoot.DefaultLocation(id);

    /// <summary>The names --fs takes as modes; any other word is a directory.</summary>
    private static readonly string[] Modes = ["overlay", "ro", "tmpfs", "host"];

    /// <summary>The filesystem mode the options chose (--fs, --readonly, --root, --storage).</summary>
    private FileSystemSpec FileSystemMode(string id, NamespaceKinds namespaces)
    {
        string mode = FsMode == "overlay" && ReadOnly ? "ro" : FsMode;
        if (Modes.Contains(FsMode) && Directory.Exists(FsMode))
            Notes.Add($"husk run: --fs {FsMode}: taken as the mode; for the directory of that name write --fs ./{FsMode}");
        switch (mode)
        {
            case "overlay":
                if (!namespaces.HasFlag(NamespaceKinds.User) && Interop.Interop.GetUid() != 0)
                    throw new UsageException("husk run: --fs overlay needs a user namespace: drop --share-user, or use --fs ro");
                return FileSystemSpec.HostOverlay(LayerRoot(id)) with { StorageSize = StorageSize, HashOriginals = HashOriginals };
            case "ro":
                return FileSystemSpec.HostReadOnly;
            case "host":
                return FileSystemSpec.Host(ReadOnly);
            case "tmpfs":
                // microbox's ephemeral root: empty, writable, in memory, capped by --storage.
                return FileSystemSpec.Empty(ReadOnly, StorageSize);
            default:
                string dir = Path.GetFullPath(FsMode);
                if (!Directory.Exists(dir))
                {
                    throw new UsageException(FsMode.StartsWith('/') || FsMode.StartsWith('.')
                        ? $"husk run: --fs: not a directory: {FsMode}"
                        : $"husk run: --fs: unknown mode {FsMode}: use overlay, ro, tmpfs, host or a directory path");
                }
                return FileSystemSpec.Directory(dir, ReadOnly);
        }
    }

    /// <summary>
    /// The spec the options describe; <paramref name="id"/> names the layer's root when none is
    /// given. The limits bring the pipes they need: standard output and error go through husk
    /// (counted) when an output limit or a report is asked for, except with --tty.
    /// </summary>
    public SandboxSpec ToSpec(string id)
    {
        if (PendingSize is not null)
            throw new UsageException("husk run: --size must be followed by --tmpfs");
        if (PendingPerms is not null)
            throw new UsageException("husk run: --perms must be followed by --tmpfs, --dir or --write");
        if (OverlaySources.Count > 0)
            throw new UsageException("husk run: --overlay-src must be followed by --overlay, --tmp-overlay or --ro-overlay");
        if (Command.Count == 0 && Image is null)
            throw new UsageException("husk run: no command given: husk run [OPTIONS] -- COMMAND [ARGS...]");
        if (Image is not null && (FsMode != "overlay" || RootDir is not null || StorageSize is not null))
            throw new UsageException("husk run: --image is the root: drop --fs, --root and --storage");
        if (Entrypoint is not null && Image is null)
            throw new UsageException("husk run: --entrypoint needs --image");
        if (UsernsBlockFd is not null && InfoFd is null)
            throw new UsageException("husk run: --userns-block-fd needs --info-fd");

        var b = (Command.Count > 0 ? Spec.Command(Command[0], [.. Command.Skip(1)]) : Spec).NewSession(NewSession ?? !Tty);
        var current = b.Current;
        CheckNamespaceCalls(current);
        if (!current.Namespaces.HasFlag(NamespaceKinds.User) && current.UserNamespaceFd is null && current.Capabilities is { Bounding: not 0 } caps)
        {
            b = b.KeepCapabilities(KeepableCapabilities(caps.Bounding, CapAddAll, ProcessCapabilities.Current().Permitted));
        }
        bool mountNs = current.Namespaces.HasFlag(NamespaceKinds.Mount);
        if (!mountNs && (current.Mounts.Length > 0 || FsMode is not ("ro" or "overlay") || Image is not null))
            throw new UsageException("husk run: filesystem options need a mount namespace: drop --share-mount");
        if (mountNs && Image is not null)
        {
            // Over the image's environment go only the variables the options set, not the caller's.
            var set = current.Environment.Except(StartEnvironment).ToList();
            b = b.Image(Image, ReadOnly);
            foreach (string entry in set)
                b = b.SetEnv(entry.Split('=', 2)[0], entry.Contains('=') ? entry.Split('=', 2)[1] : "");
            if (Entrypoint is not null)
                b = b.FileSystem((ImageFileSystem)b.Current.FileSystem with { Entrypoint = Entrypoint.Length == 0 ? [] : [Entrypoint] });
        }
        else if (mountNs)
        {
            b = b.FileSystem(FileSystemMode(id, current.UserNamespaceFd is null ? current.Namespaces : current.Namespaces & ~NamespaceKinds.User));
        }
        foreach (string path in Hide)
        {
            if (!Path.Exists(path))
                throw new UsageException($"husk run: --hide: no such file or directory: {path}");
            b = b.Hide(path);
        }
        if (SeccompUnconfined)
            b = b.SeccompUnconfined();
        b = Tracing(b);
        if (WantsReport)
            b = b.MeasureUsage();
        var limits = b.Current.Limits;
        if (limits.IsSupervised && !Tty && (limits.OutputBytes is not null || WantsReport))
            b = b.PipeOutput();
        if (SyncFd is { } sync)
            b = b.PassFd(Descriptors.Borrow(sync));
        // Only when asked: without --log-level or --log-format husk run says what it always said.
        if (LogLevel is not null || LogJson is not null)
        {
            Log = new LogSink(LogLevel ?? Husk.Logging.LogLevel.Error, LogJson ?? false, id);
            b = b.Log(Log);
        }
        var spec = b.Build();
        foreach (string path in Direct)
        {
            if (!Path.Exists(path))
                throw new UsageException($"husk run: --direct: no such file or directory: {path}");
        }
        // A terminal's job: the payload's own process group, in the terminal's foreground, rather than a
        // new session without a terminal (where shells have no job control). Only where the payload
        // cannot push input into the terminal (the default profile refuses TIOCSTI and TIOCLINUX),
        // unless --no-new-session asked for the caller's session anyway.
        int? foreground = !Tty && NewSession != true && Interop.Interop.IsInteractiveJob()
            && (NewSession == false || CannotInjectInput(Launch.SpawnPlanner.SeccompPolicyOf(spec))) ? 0 : null;
        if (mountNs && Image is null && Chdir(spec) is null && FsMode is "overlay" or "ro" && Directory.GetCurrentDirectory() is var cwd
            && Launch.BaseTree.PrivateDirectories.Contains(cwd))
            Notes.Add($"husk: working directory: {cwd}: the sandbox has an empty {cwd} of its own (the host's stays outside)");
        return spec with
        {
            // The image's config gives the command when the options name none.
            Command = Command.Count == 0 ? [] : spec.Command,
            NewSession = foreground is null && (NewSession ?? !Tty),
            ForegroundTerminal = foreground,
            // Written straight through, before the command line's own operations.
            Mounts = [.. Direct.Select(p => new BindMount(p, p)), .. spec.Mounts],
            SyncFd = Descriptors.BorrowOrNull(SyncFd),
            BlockFd = Descriptors.BorrowOrNull(BlockFd),
            LockFiles = [.. LockFiles],
            Identity = UsernsBlockFd is not null ? spec.Identity with { Mapping = IdMapping.External } : spec.Identity,
        };
    }
}
