using System.Runtime.InteropServices;
using Husk.FileSystem;
using Husk.Launch;

namespace Husk.Cli.Personalities.MiniSandbox;

/// <summary>
/// The mini-sandbox personality: qualcomm/mini-sandbox at 68c2571 (a fork of Bazel's
/// linux-sandbox) on the Husk engine. Its options, modes, checks, messages and exit statuses: -x's
/// root of the host's directories read-only with the working directory's tree overlaid (writes there
/// vanish), the working directory and /tmp (the host's /tmp/mini-sandbox-tmp) writable, an empty
/// home unless run from $HOME, no network but the loopback; -o/-d/-k's and -h's roots of only what
/// is named; without a mode, the host read-only but the working directory and /tmp. No seccomp, no
/// Landlock, capabilities as exec leaves them, as there; its temporary directories are Husk's own
/// (nothing is left under -o's, -d's or -h's directory). Under the name mini-tapbox, its firewall
/// build: -F's rules on Husk's egress allowlist (<see cref="MiniTapboxRules"/>).
/// </summary>
internal static class MiniSandboxPersonality
{
    /// <summary>Set inside, so a nested mini-sandbox runs its command without a second sandbox.</summary>
    internal const string NestedVariable = "__INTERNAL_MINI_SANDBOX_ON";

    public static int Run(string argv0, string[] args, bool tapbox)
    {
        var host = new MiniSandboxHost();
        MiniSandboxArguments a;
        try
        {
            a = MiniSandboxArguments.Parse(args, tapbox, host);
            foreach (string line in a.Unrecognized)
                StandardError.WriteLine($"Warning: Unrecognized rule format: {line}");
            if (System.Environment.GetEnvironmentVariable(NestedVariable) is null)
                Validate(a, host);
        }
        catch (MiniSandboxUsage e)
        {
            StandardError.Write(e.Message + MiniSandboxHelp.Text(argv0));
            return 1;
        }
        catch (MiniSandboxError e)
        {
            StandardError.WriteLine(e.Message);
            return 1;
        }
        // -D: Husk's log at debug level, as text lines, in the file (truncated, as fopen "w").
        Microsoft.Win32.SafeHandles.SafeFileHandle? logFile = null;
        if (a.DebugLog is not null)
        {
            try
            {
                logFile = File.OpenHandle(a.DebugLog, FileMode.Create, FileAccess.Write);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                StandardError.WriteLine($"[StartLogging:367]: OS Error: fopen({a.DebugLog}) failed");
                return 1;
            }
        }
        using var logOwner = logFile;
        var log = logFile is null ? null : new LogSink(Logging.LogLevel.Debug, json: false, Guid.NewGuid().ToString(), fd: Descriptors.Number(logFile), program: Path.GetFileName(argv0));
        SandboxSpec spec;
        try
        {
            // Already inside: the command runs as it is, in the sandbox it is in.
            spec = System.Environment.GetEnvironmentVariable(NestedVariable) is null ? ToSpec(a, host, log) : Unsandboxed(a, host);
        }
        catch (SandboxSpecException e)
        {
            StandardError.WriteLine($"{Path.GetFileName(argv0)}: {e.Problems[0]}");
            return 1;
        }
        try
        {
            return SandboxRunner.Run(spec, started: p => Timeouts(a, p)).ShellStatus;
        }
        catch (SandboxSetupException e) when (e.IsExecFailure)
        {
            // linux-sandbox's DIE after a failed execvp, then pid 1's EXIT_FAILURE.
            StandardError.WriteLine($"\"execvp({a.Command[0]}, ...)\": {SyscallException.Describe(e.Errno)}");
            return 1;
        }
        catch (SandboxSetupException e)
        {
            StandardError.WriteLine($"{Path.GetFileName(argv0)}: {e.Message}");
            return 1;
        }
    }

    /// <summary>-T, -t and -i: SIGTERM at the timeout (or on SIGINT), SIGKILL after the delay (at once without one).</summary>
    private static void Timeouts(MiniSandboxArguments a, SandboxProcess p)
    {
        int stage = 0;
        var gate = new object();
        Timer? timer = null;
        void Escalate()
        {
            lock (gate)
            {
                bool polite = stage == 0 && a.KillDelay > 0;
                stage++;
                if (polite)
                    p.Signal(PosixSignal.SIGTERM);
                else
                    p.Kill();
                if (polite)
                    timer = new Timer(_ => Escalate(), null, TimeSpan.FromSeconds(a.KillDelay), Timeout.InfiniteTimeSpan);
            }
        }
        if (a.Timeout > 0)
            timer = new Timer(_ => Escalate(), null, TimeSpan.FromSeconds(a.Timeout), Timeout.InfiniteTimeSpan);
        if (a.SigintSendsSigterm)
        {
            PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
            {
                ctx.Cancel = true;
                Escalate();
            });
        }
        GC.KeepAlive(timer);
    }

    /// <summary>
    /// linux-sandbox's ValidateOptions before the sandbox starts: the overlays' directory (a new
    /// one under /tmp for -x, under -d for -o) and -h's root must not lie inside the working
    /// directory or a -w path, no path may be both -M and -w, and -x keeps /tmp its own.
    /// </summary>
    internal static void Validate(MiniSandboxArguments a, MiniSandboxHost host)
    {
        string? cwd = host.Canonical(a.WorkingDirectory ?? host.WorkingDirectory);
        if (a.UsesOverlay && (cwd is null || HostMounts.IsUnder(a.OverlayDirectory!, cwd)))
            throw new MiniSandboxError("ValidateOptions", 325, MiniSandboxErrorCode.IllegalConfiguration);
        if (a.Mode == MiniSandboxMode.Hermetic && (cwd is null || HostMounts.IsUnder(a.SandboxRoot!, cwd)))
            throw new MiniSandboxError("ValidateOptions", 330, MiniSandboxErrorCode.IllegalConfiguration);
        if (a.Binds.Any(b => a.Writable.Contains(b.Source)))
            throw new MiniSandboxError("ValidateOptions", 334, MiniSandboxErrorCode.FileReadAndWrite);
        if (a.UsesOverlay && a.Writable.Any(w => host.Canonical(w) is not { } c || HostMounts.IsUnder(a.OverlayDirectory!, c)))
            throw new MiniSandboxError("ValidateOptions", 339, MiniSandboxErrorCode.IllegalConfiguration);
        if (a.Mode == MiniSandboxMode.Default && a.Writable.Contains("/tmp"))
            throw new MiniSandboxError("ValidateOptions", 352, MiniSandboxErrorCode.TmpNotRemounted);
        if (a.Mode == MiniSandboxMode.Default && a.Binds.Any(b => b.Source == "/tmp"))
            throw new MiniSandboxError("ValidateOptions", 355, MiniSandboxErrorCode.TmpNotRemounted);
    }

    /// <summary>
    /// The directory -x overlays for the working directory: the top-level directory of its mount
    /// that leads to it (below $HOME: the one below $HOME), so its parents can be written with the
    /// writes vanishing; null when the working directory is its mount point or $HOME itself.
    /// (linux-sandbox overlays an XFS directory one level at a time down to the working directory; Husk does not.)
    /// </summary>
    internal static string? WorkingTreeOverlay(string cwd, string mountPoint, string home)
    {
        string? top = TopLevel(mountPoint, cwd);
        if (top is null)
            return null;
        // Above $HOME, the directory below $HOME that leads to it; from outside $HOME linux-sandbox's
        // relative path starts with "..", so $HOME's parent.
        if (HostMounts.IsUnder(home, top))
            top = HostMounts.IsUnder(cwd, home) ? TopLevel(home, cwd) : Path.GetDirectoryName(home);
        return top;
    }

    /// <summary><paramref name="under"/>'s first component below <paramref name="mount"/>, or null when they are the same.</summary>
    private static string? TopLevel(string mount, string under)
    {
        if (under == mount || !HostMounts.IsUnder(under, mount))
            return null;
        string rest = under[(mount == "/" ? 1 : mount.Length + 1)..];
        int slash = rest.IndexOf('/');
        return (mount == "/" ? "/" : mount + "/") + (slash < 0 ? rest : rest[..slash]);
    }

    /// <summary>Whether -x leaves a top-level directory of the host out of its read-only ones (linux-sandbox's ToBeMounted).</summary>
    private static bool MountedOtherwise(string entry, string cwd, string home, IEnumerable<string> mounted) =>
        HostMounts.IsUnder(entry, home) || HostMounts.IsUnder(home, entry)
        || mounted.Any(m => HostMounts.IsUnder(entry, m))
        || HostMounts.IsUnder(entry, "/tmp")
        || HostMounts.IsUnder(entry, cwd) || HostMounts.IsUnder(cwd, entry)
        || entry == "/dev";

    /// <summary>The sandbox mini-sandbox's options describe.</summary>
    internal static SandboxSpec ToSpec(MiniSandboxArguments a, MiniSandboxHost host, Logging.ILogSink? log = null)
    {
        string cwd = a.WorkingDirectory ?? host.WorkingDirectory;
        string home = host.Home;
        var ns = NamespaceKinds.User | NamespaceKinds.Mount | NamespaceKinds.Ipc | NamespaceKinds.Pid;
        if (a.Network != MiniSandboxNetwork.Host || a.Tapbox)
            ns |= NamespaceKinds.Net;
        if (a.FakeHostname)
            ns |= NamespaceKinds.Uts;
        var mounts = new List<MountOp>();
        FileSystemSpec fs;
        var overlays = a.Overlays.ToList();
        var writable = a.Writable.ToList();
        if (a.Mode == MiniSandboxMode.ReadOnly)
        {
            // The host read-only, its devices usable; then the named mounts, /tmp and the working directory writable.
            fs = FileSystemSpec.Host(readOnly: true);
            mounts.Add(new BindMount("/dev", "/dev") { Devices = true });
            mounts.AddRange(Binds(a));
            mounts.AddRange(a.Tmpfs.Select(t => new TmpfsMount(t)));
            mounts.AddRange(a.Writable.Append("/tmp").Where(w => w.StartsWith('/')).Select(w => new BindMount(w, w)));
        }
        else
        {
            if (a.Mode != MiniSandboxMode.Hermetic && home.Length == 0)
                throw new SandboxSpecException(["HOME environment variable not set. Indicate it with -r option"]);
            // A root of the sandbox's own, writable (linux-sandbox's is a directory it deletes afterwards).
            fs = FileSystemSpec.Bare;
            mounts.Add(new DevMount("/dev"));
            if (a.Mode == MiniSandboxMode.Default)
            {
                mounts.Add(new BindMount("/sys", "/sys") { ReadOnly = true, Optional = true });
                // libmini-sandbox's mount_parents_write makes that tree writable instead of overlaid.
                if (WorkingTreeOverlay(cwd, host.MountPointOf(cwd), home) is { } top)
                    (a.ParentsWritable ? writable : overlays).Add(top);
            }
            else
            {
                // linux-sandbox's own /tmp: a directory of the new root.
                mounts.Add(new MakeDirectory("/tmp") { Mode = FileModes.SharedSticky });
            }
            if (a.Mode != MiniSandboxMode.Hermetic)
                mounts.Add(new MakeDirectory(home));
            mounts.AddRange(Binds(a));
            if (a.Mode == MiniSandboxMode.Default)
            {
                var mounted = overlays.Concat(writable).Concat(a.Binds.Select(b => b.Source)).ToList();
                mounts.AddRange(host.RootDirectories().Where(e => e != "/sys" && !MountedOtherwise(e, cwd, home, mounted))
                    .Select(e => new BindMount(e, e) { ReadOnly = true }));
            }
            // Each overlaid directory: writes go to a layer that vanishes with the sandbox.
            mounts.AddRange(overlays.Distinct().Select(o => new OverlayMount(o, [host.Canonical(o) ?? o]) { Kind = OverlayKind.Temporary }));
            mounts.AddRange(a.Tmpfs.Select(t => new TmpfsMount(t)));
            mounts.AddRange(writable.Where(w => w.StartsWith('/') && host.Exists(w)).Select(w => new BindMount(w, w)));
        }
        mounts.Add(new BindMount(cwd, cwd));
        var identity = new Identity();
        if (a.FakeRoot)
            identity = Identity.Root;
        else if (a.FakeNobody && host.User("nobody") is { } nobody)
            identity = new Identity { Uid = nobody.Uid, Gid = nobody.Gid };
        if (a.Pty && host.Group("tty") is { } tty)
            identity = identity with { Gid = tty };
        return new SandboxSpec
        {
            Command = [.. a.Command],
            Namespaces = ns,
            Hostname = a.FakeHostname ? "localhost" : null,
            BringUpLoopback = a.Network == MiniSandboxNetwork.Loopback || a.Tapbox,
            // mini-tapbox: minitap's tap device and firewall become the supervisor's allowlist (-n changes nothing there).
            Network = a.Tapbox ? MiniTapboxRules.Network(a.Allowed, a.MaxConnections) : NetworkSpec.None,
            Identity = identity,
            FileSystem = fs,
            Mounts = [.. mounts],
            ShowSecrets = true,
            Environment = [.. Husk.Launch.CallerEnvironment.Current().Where(e => !e.StartsWith(NestedVariable + "=", StringComparison.Ordinal)), NestedVariable + "=1"],
            WorkingDirectory = cwd,
            SetPwd = false,
            // linux-sandbox has no seccomp filter and no Landlock, and sets no no_new_privs; exec's
            // rules decide the capabilities (-R's root keeps its full set in its user namespace).
            Capabilities = null,
            NoNewPrivileges = false,
            Landlock = LandlockSpec.Off,
            Seccomp = SeccompSpec.None,
            NestedUserNamespaces = NestedUserNamespaces.Allow,
            Log = log,
        };
    }

    /// <summary>-M's binds (and -x's), read-only but where linux-sandbox keeps them writable; /proc a fresh one.</summary>
    private static IEnumerable<MountOp> Binds(MiniSandboxArguments a) =>
        a.Binds.Select(b => b.Source == "/proc"
            ? (MountOp)new ProcMount(b.Destination)
            : new BindMount(b.Source, b.Destination) { ReadOnly = !Writable(b.Destination, a) });

    /// <summary>linux-sandbox's ShouldBeWritable for a bind's destination.</summary>
    private static bool Writable(string path, MiniSandboxArguments a) =>
        path.EndsWith("/tmp", StringComparison.Ordinal) || path.StartsWith("/dev", StringComparison.Ordinal)
        || path == (a.WorkingDirectory ?? "") || a.Writable.Contains(path) || a.Tmpfs.Contains(path);

    /// <summary>A nested mini-sandbox: the command alone, in the sandbox it already is in.</summary>
    private static SandboxSpec Unsandboxed(MiniSandboxArguments a, MiniSandboxHost host) => new()
    {
        Command = [.. a.Command],
        Namespaces = NamespaceKinds.None,
        FileSystem = FileSystemSpec.Inherit,
        Environment = [.. Husk.Launch.CallerEnvironment.Current()],
        WorkingDirectory = a.WorkingDirectory ?? host.WorkingDirectory,
        SetPwd = false,
        Capabilities = null,
        NoNewPrivileges = false,
        Landlock = LandlockSpec.Off,
        Seccomp = SeccompSpec.None,
    };
}
