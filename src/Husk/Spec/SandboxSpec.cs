using System.Runtime.InteropServices;
using System.Collections.Immutable;

namespace Husk;

/// <summary>
/// Everything that defines a sandbox run. Immutable; front doors (the CLI, personalities, the library
/// builder) produce one, <see cref="SandboxSpec.Validate"/> lists every problem at once, and the
/// planner turns it into the native stage's operations.
/// </summary>
public sealed record SandboxSpec
{
    /// <summary>The command: the file to run and its arguments (argv).</summary>
    public required ImmutableArray<string> Command { get; init; }
    /// <summary>argv[0] for the payload, when it differs from the file.</summary>
    public string? Argv0 { get; init; }
    /// <summary>Look the file up in the payload's PATH when it has no slash.</summary>
    public bool SearchPath { get; init; } = true;
    /// <summary>
    /// Run a file the kernel cannot execute (ENOEXEC: a script without <c>#!</c>) with /bin/sh, as
    /// glibc's execvp does (and so bubblewrap, try and mbox). Python's os.execvp, which
    /// mkosi-sandbox uses, does not.
    /// </summary>
    public bool ScriptShell { get; init; } = true;

    /// <summary>Namespaces the sandbox gets its own of.</summary>
    public NamespaceKinds Namespaces { get; init; } = NamespaceKinds.AllButTime;
    /// <summary>Join this user namespace (an fd of the caller) instead of creating one.</summary>
    public SafeHandle? UserNamespaceFd { get; init; }
    /// <summary>After setup, switch into this descendant user namespace (bwrap's --userns2).</summary>
    public SafeHandle? UserNamespace2Fd { get; init; }
    /// <summary>Join this pid namespace (an fd of the caller); with <see cref="NamespaceKinds.Pid"/>, a new one is created under it.</summary>
    public SafeHandle? PidNamespaceFd { get; init; }
    /// <summary>
    /// Join the namespaces of a running process (a pidfd of the caller) before anything else,
    /// as <c>husk enter</c> does; <see cref="JoinNamespaces"/> says which.
    /// </summary>
    public SafeHandle? JoinProcessFd { get; init; }
    /// <summary>The namespaces joined through <see cref="JoinProcessFd"/>.</summary>
    public NamespaceKinds JoinNamespaces { get; init; }
    /// <summary>
    /// Namespaces of other kinds (network, IPC, UTS, mount, cgroup, time) joined through descriptors
    /// of the caller right after the clone (OCI's namespaces given by path); the user and pid
    /// namespaces have <see cref="UserNamespaceFd"/> and <see cref="PidNamespaceFd"/>.
    /// </summary>
    public ImmutableArray<NamespaceFd> NamespaceFds { get; init; } = [];
    /// <summary>Whether the payload may create user namespaces (nested sandboxes); by default not, where the sandbox has a user namespace of its own.</summary>
    public NestedUserNamespaces NestedUserNamespaces { get; init; }
    /// <summary>Fail unless nested user namespaces are already impossible.</summary>
    public bool AssertUserNamespacesDisabled { get; init; }

    /// <summary>Ids inside and how they map.</summary>
    public Identity Identity { get; init; } = new();
    /// <summary>Hostname inside (needs a UTS namespace).</summary>
    public string? Hostname { get; init; }
    /// <summary>NIS domain name inside (needs a UTS namespace).</summary>
    public string? DomainName { get; init; }

    /// <summary>
    /// The tree the sandbox starts from (default: the host's, read-only, with a fresh /proc, a
    /// minimal /dev and private /tmp, /var/tmp and /run); the planner derives its mounts.
    /// </summary>
    public FileSystemSpec FileSystem { get; init; } = FileSystemSpec.HostReadOnly;
    /// <summary>Filesystem operations applied in order after the base tree of <see cref="FileSystem"/>.</summary>
    public ImmutableArray<MountOp> Mounts { get; init; } = [];
    /// <summary>Host paths that show as an empty directory or an empty unreadable file (<c>--hide</c>); missing ones are skipped.</summary>
    public ImmutableArray<string> HiddenPaths { get; init; } = [];
    /// <summary>Leave the home directory's secrets (~/.ssh, ~/.gnupg, cloud credentials...) visible where the host's tree is shown.</summary>
    public bool ShowSecrets { get; init; }
    /// <summary>The home directory whose secrets are hidden; null: the caller's $HOME.</summary>
    public string? SecretsHome { get; init; }
    /// <summary>Host directory on which the hidden build root is mounted (default /tmp).</summary>
    public string BuildBase { get; init; } = "/tmp";
    /// <summary>The tmpfs the new root is built on: its flags and mode show in the sandbox's mount table as those of /.</summary>
    public RootTmpfs RootTmpfs { get; init; } = new();
    /// <summary>Propagation of every mount in the sandbox once it is built.</summary>
    public MountPropagation RootPropagation { get; init; } = MountPropagation.Private;

    /// <summary>Bring up the loopback interface of a new network namespace (otherwise it stays down).</summary>
    public bool BringUpLoopback { get; init; } = true;
    /// <summary>
    /// The network: loopback only (the default, with <see cref="NamespaceKinds.Net"/>), the host's,
    /// user-mode NAT, a bridge, or the egress allowlist; published ports, DNS and the log.
    /// </summary>
    public NetworkSpec Network { get; init; } = NetworkSpec.None;

    /// <summary>The payload's environment as NAME=VALUE entries.</summary>
    public ImmutableArray<string> Environment { get; init; } = [];
    /// <summary>Working directory; null means the caller's if visible, else $HOME, else /.</summary>
    public string? WorkingDirectory { get; init; }
    /// <summary>Set PWD in the environment to the directory chosen.</summary>
    public bool SetPwd { get; init; } = true;
    /// <summary>umask of the payload; null keeps the caller's.</summary>
    public uint? Umask { get; init; }
    /// <summary>An environment variable set to the payload's own pid at exec (socket activation's LISTEN_PID).</summary>
    public string? PidVariable { get; init; }
    /// <summary>Signals the payload starts with ignored, besides those the caller already ignored.</summary>
    public ImmutableArray<PosixSignal> IgnoredSignals { get; init; } = [];
    /// <summary>Kernel parameters set in the sandbox's namespaces before the payload starts.</summary>
    public ImmutableArray<Sysctl> Sysctls { get; init; } = [];
    /// <summary>Resource limits of the payload, set exactly (a value the process may not raise fails the start).</summary>
    public ImmutableArray<Rlimit> Rlimits { get; init; } = [];
    /// <summary>The payload's /proc/self/oom_score_adj, -1000 to 1000.</summary>
    public int? OomScoreAdjust { get; init; }
    /// <summary>The payload's execution domain (personality(2): 0 is Linux, 8 is 32-bit Linux).</summary>
    public uint? Personality { get; init; }

    /// <summary>Start a new session (setsid), so the payload cannot inject input into the caller's terminal.</summary>
    public bool NewSession { get; init; }
    /// <summary>
    /// Give the payload a pseudo-terminal of the sandbox's own (from its /dev/ptmx) as stdin, stdout,
    /// stderr and controlling terminal, in a new session; the master is
    /// <see cref="SandboxProcess.Terminal"/>. The value is the initial window size.
    /// </summary>
    public TerminalSize? Terminal { get; init; }
    /// <summary>A path in the sandbox (/dev/console) where the <see cref="Terminal"/>'s slave is bound as well.</summary>
    public string? TerminalConsole { get; init; }
    /// <summary>
    /// A descriptor of the caller on its terminal (usually 0): the sandbox gets a process group of its
    /// own in the caller's session, the terminal's foreground group while it runs when the caller's
    /// group held it, and the caller's group gets it back when the sandbox ends. Shells inside get
    /// job control; when the payload stops (Ctrl-Z), the supervisor stops too, as a shell's job
    /// does, and continues the sandbox when it is continued. Waiting on the process
    /// (<see cref="SandboxProcess.WaitForExit"/> and its kin) does this. The payload stays in the
    /// caller's session, so it should not be able to push input into the terminal (TIOCSTI): use it
    /// with a seccomp policy that refuses that. Not with <see cref="NewSession"/> or <see cref="Terminal"/>.
    /// </summary>
    public int? ForegroundTerminal { get; init; }
    /// <summary>The payload is pid 1 itself (no husk-init reaper).</summary>
    public bool AsPid1 { get; init; }
    /// <summary>
    /// The sandbox outlives the process that starts it (runc's model, husk-runtime): no parent-death
    /// signal, and a process forked to enter a pid namespace stays a child of the caller, so that
    /// the caller's subreaper (conmon, containerd's shim) waits for it once the caller is gone.
    /// Nothing of Husk waits inside: use it with <see cref="AsPid1"/>.
    /// </summary>
    public bool Detached { get; init; }
    /// <summary>
    /// A FIFO of the caller (a descriptor open with O_PATH): the sandbox is set up, the payload looked
    /// up, and then it waits, as its own process, until someone opens the FIFO for reading, before
    /// it execs (runc's exec.fifo, between <c>create</c> and <c>start</c>). A payload that cannot be
    /// found fails the launch.
    /// </summary>
    public SafeHandle? StartFifoFd { get; init; }
    /// <summary>
    /// The sandbox stops once its namespaces and mounts are made, before it switches into its root,
    /// until the supervisor lets it go on (<c>LaunchHooks.Paused</c>): OCI's prestart,
    /// createRuntime and createContainer hooks run then.
    /// </summary>
    public bool PauseBeforeRootSwitch { get; init; }
    /// <summary>A cgroup of the sandbox's own at a given path, with limits, that outlives the caller; null: none.</summary>
    public CgroupSpec? Cgroup { get; init; }
    /// <summary>Keep every descriptor the caller did not mark close-on-exec (bwrap); otherwise only 0-2 and <see cref="Fds"/>.</summary>
    public bool InheritFds { get; init; }
    /// <summary>Descriptors given to the payload under a number.</summary>
    public ImmutableArray<FdMapping> Fds { get; init; } = [];
    /// <summary>
    /// Descriptors only the supervisor uses (status and info pipes): the sandbox closes its copies the
    /// moment it starts, before waiting for its ids, so a reader waiting for end of file is not held up.
    /// </summary>
    public ImmutableArray<SafeHandle> SupervisorFds { get; init; } = [];
    /// <summary>Kept open by the sandbox's init while it runs (bwrap's --sync-fd).</summary>
    public SafeHandle? SyncFd { get; init; }
    /// <summary>Block before exec until this descriptor is readable (bwrap's --block-fd).</summary>
    public SafeHandle? BlockFd { get; init; }
    /// <summary>Paths (inside) the sandbox's init holds a read lock on while it runs.</summary>
    public ImmutableArray<string> LockFiles { get; init; } = [];

    /// <summary>
    /// The payload's capabilities, or null to leave them as the caller's process has them and let
    /// exec apply the usual rules (root in a new user namespace then keeps its full set).
    /// </summary>
    public CapabilitySet? Capabilities { get; init; } = CapabilitySet.None;
    /// <summary>Set no_new_privs: exec can never gain privileges.</summary>
    public bool NoNewPrivileges { get; init; } = true;
    /// <summary>Landlock confinement, derived from the final mounts when the sandbox starts (default: on).</summary>
    public LandlockSpec Landlock { get; init; } = LandlockSpec.Default;
    /// <summary>The seccomp filter, compiled when the sandbox starts (default: Husk's default profile).</summary>
    public SeccompSpec Seccomp { get; init; } = SeccompSpec.Default;

    /// <summary>
    /// A syscall policy decided at run time by a callback (seccomp user notification): allow,
    /// deny with an errno, or kill (<see cref="Verdict.RestrictedFunction"/>). The run is supervised.
    /// </summary>
    public Policy.SyscallCallback? SyscallCallback { get; init; }

    /// <summary>
    /// Where the engine reports what it does for this sandbox (the planner's decisions, each setup
    /// step, the supervisors'), or null for nowhere. Reporting only: it changes nothing of the sandbox.
    /// </summary>
    public Logging.ILogSink? Log { get; init; }
    /// <summary>
    /// Trace the payload's system calls (strace-like lines, <see cref="SandboxProcess.Events"/>,
    /// counts in <see cref="SandboxResult.SyscallCounts"/>), or null for no tracing.
    /// </summary>
    public TraceSpec? Trace { get; init; }

    /// <summary>Quotas, usage measurement and verdicts; <see cref="ResourceLimits.None"/> (the default) runs unsupervised.</summary>
    public ResourceLimits Limits { get; init; } = ResourceLimits.None;

    /// <summary>The payload's standard input: the caller's, a pipe (<see cref="SandboxProcess.StandardInput"/>) or /dev/null.</summary>
    public StdioMode StandardInput { get; init; }
    /// <summary>The payload's standard output: the caller's, a pipe (<see cref="SandboxProcess.StandardOutput"/>, counted against the output limit) or /dev/null.</summary>
    public StdioMode StandardOutput { get; init; }
    /// <summary>The payload's standard error: the caller's, a pipe (<see cref="SandboxProcess.StandardError"/>, counted against the output limit) or /dev/null.</summary>
    public StdioMode StandardError { get; init; }

    /// <summary>
    /// The payload is the calling process itself, which goes on in the sandbox (libmini-sandbox's
    /// mini_sandbox_start): no command, no exec; the plan ends where the caller's code resumes,
    /// with every descriptor and signal disposition of the caller left to it (the caller's side
    /// restores them). Needs a pid namespace of its own: the payload is forked from the sandbox's
    /// first process, which becomes its husk-init. Started through <c>ContinuingLaunch</c> only.
    /// </summary>
    internal bool ContinuesCaller { get; init; }

    /// <summary>A mount namespace of another process is joined (<see cref="NamespaceFds"/>): the sandbox's mounts are made there.</summary>
    internal bool JoinsMountNamespace => NamespaceFds.Any(n => n.Kind == NamespaceKinds.Mount);

    /// <summary>Lists every problem with the spec, each a sentence a user can act on.</summary>
    public ImmutableArray<string> Validate()
    {
        var problems = ImmutableArray.CreateBuilder<string>();
        // An image's config may supply the command.
        if (ContinuesCaller)
        {
            // The caller goes on as the payload: nothing to run, and it must be forked under a reaper.
            if (!Command.IsDefaultOrEmpty)
                problems.Add("a sandbox the caller continues in runs no command");
            if (!Namespaces.HasFlag(NamespaceKinds.Pid) || AsPid1 || PidNamespaceFd is not null || JoinProcessFd is not null || UserNamespaceFd is not null || Detached)
                problems.Add("a sandbox the caller continues in needs a new pid namespace of its own, under husk-init");
            if (Terminal is not null || ForegroundTerminal is not null || NewSession || StartFifoFd is not null || Fds.Length > 0 || SyscallCallback is not null || Trace is not null || Limits.IsSupervised)
                problems.Add("a sandbox the caller continues in keeps the caller's descriptors, session and signals: no terminal, new session, descriptor mapping, callback, trace or supervised limits");
        }
        else if ((Command.IsDefaultOrEmpty && FileSystem is not ImageFileSystem) || (!Command.IsDefaultOrEmpty && string.IsNullOrEmpty(Command[0])))
            problems.Add("no command given: name the program to run");
        if (FileSystem is ImageFileSystem { Reference: null or "" })
            problems.Add("no image given: name one, such as oci:DIR:TAG");
        bool mountNs = Namespaces.HasFlag(NamespaceKinds.Mount) || JoinsMountNamespace;
        if (!mountNs && (Mounts.Length > 0 || FileSystem is not (InheritFileSystem or ChrootFileSystem)))
            problems.Add("filesystem operations need a mount namespace: drop --share-mount or the operations");
        if (FileSystem is InheritFileSystem && Mounts.Length > 0)
            problems.Add("filesystem operations need a root of the sandbox's own: choose a filesystem mode other than Inherit");
        if (FileSystem is ChrootFileSystem && Mounts.Length > 0)
            problems.Add("a chroot mounts nothing: drop the filesystem operations, or choose a filesystem mode with a mount namespace");
        if (FileSystem is ChrootFileSystem { Path: var chroot } && !chroot.StartsWith('/'))
            problems.Add($"the chroot directory must be an absolute path: {chroot}");
        bool ownUts = Namespaces.HasFlag(NamespaceKinds.Uts) || NamespaceFds.Any(n => n.Kind == NamespaceKinds.Uts);
        if (Hostname is not null && !ownUts)
            problems.Add("a hostname needs a UTS namespace: add --unshare-uts");
        if (AsPid1 && !Namespaces.HasFlag(NamespaceKinds.Pid))
            problems.Add("--as-pid-1 needs a pid namespace: add --unshare-pid");
        if (AsPid1 && LockFiles.Length > 0)
            problems.Add("--as-pid-1 cannot hold lock files: drop one of them");
        if (JoinProcessFd is not null && (Namespaces & JoinNamespaces) != 0)
            problems.Add("a namespace cannot be both joined and created: drop it from one of the two");
        if (JoinProcessFd is not null && (UserNamespaceFd is not null || PidNamespaceFd is not null))
            problems.Add("join either a process's namespaces or single namespaces by fd, not both");
        if (UserNamespaceFd is not null && Namespaces.HasFlag(NamespaceKinds.User))
            problems.Add("joining a user namespace and creating one are exclusive: drop --unshare-user or --userns");
        if (NestedUserNamespaces == NestedUserNamespaces.Deny && !Namespaces.HasFlag(NamespaceKinds.User))
            problems.Add("--disable-userns needs a new user namespace: add --unshare-user");
        if (Identity.Mapping == IdMapping.External && !Namespaces.HasFlag(NamespaceKinds.User))
            problems.Add("external id mapping needs a new user namespace");
        problems.AddRange(Network.Validate(Namespaces.HasFlag(NamespaceKinds.Net)));
        if (Hostname is { Length: > 64 })
            problems.Add($"hostname is longer than 64 bytes: {Hostname}");
        foreach (var op in Mounts)
        {
            if (!op.Destination.StartsWith('/'))
                problems.Add($"destination must be an absolute path: {op.Destination}");
            if (op is FilesystemMount f)
            {
                if (string.IsNullOrEmpty(f.FilesystemType))
                    problems.Add($"mount on {f.Destination} names no filesystem type");
                foreach (string opt in f.Options)
                {
                    if (opt.Length == 0 || opt[0] is '@' or '%' or '+')
                        problems.Add($"mount option of {f.Destination} is not a plain key: '{opt}'");
                }
            }
            if (op is BindMount { SourceRoot: SourceRoot.Storage } sb && (!sb.Source.StartsWith('/') || sb.Source.Split('/').Contains("..")))
                problems.Add($"bind on {sb.Destination}: a source in the storage must be an absolute path without '..'");
            if (op is OverlayMount o)
            {
                if (o.Lowers.IsDefaultOrEmpty)
                    problems.Add($"overlay on {o.Destination} has no lower layer");
                if (o.Kind == OverlayKind.ReadOnly && o.Lowers.Length < 2)
                    problems.Add($"read-only overlay on {o.Destination} needs at least two lower layers");
                if (o.Kind == OverlayKind.Persistent && (o.Upper is null || o.Work is null))
                    problems.Add($"overlay on {o.Destination} needs an upper and a work directory");
                if (o.UpperRoot == SourceRoot.Sandbox && (o.Upper is { } u && !u.StartsWith('/') || o.Work is { } w && !w.StartsWith('/')))
                    problems.Add($"overlay on {o.Destination}: upper and work directories in the sandbox must be absolute paths");
                if (o.LowerRoot == SourceRoot.Storage && !o.Lowers.IsDefault && o.Lowers.Any(l => !l.StartsWith('/') || l.Split('/').Contains("..")))
                    problems.Add($"overlay on {o.Destination}: lower layers in the storage must be absolute paths without '..'");
                if (o.LowerRoot == SourceRoot.Sandbox)
                    problems.Add($"overlay on {o.Destination}: lower layers are on the host or in the storage");
                if (o.UpperRoot == SourceRoot.Storage && o.Upper is null)
                    problems.Add($"overlay on {o.Destination} needs an upper directory in the storage");
                if (o.UpperRoot == SourceRoot.Storage && (o.Upper is { } su && su.Split('/').Contains("..") || o.Work is { } sw && sw.Split('/').Contains("..")))
                    problems.Add($"overlay on {o.Destination}: upper and work directories in the storage may not contain '..'");
                foreach (string opt in o.Options)
                {
                    if (opt.Length == 0 || opt[0] is '@' or '%' or '+')
                        problems.Add($"overlay option of {o.Destination} is not a plain key: '{opt}'");
                }
            }
        }
        if (Seccomp.UserNotification && Seccomp.RawPrograms.IsDefaultOrEmpty && Seccomp.Profile is null)
            problems.Add("a seccomp user-notification listener needs a seccomp program");
        // Plain loops: these run on every cold start, where each LINQ iterator's first use costs.
        foreach (string name in Seccomp.Allow)
        {
            if (!Policy.SyscallTable.IsKnown(name))
                problems.Add($"unknown system call: {name}");
        }
        foreach (var denial in Seccomp.Deny)
        {
            if (!Policy.SyscallTable.IsKnown(denial.Name))
                problems.Add($"unknown system call: {denial.Name}");
        }
        foreach (var denial in Seccomp.Deny)
        {
            if (denial.Errno is < 1 or > 4095)
                problems.Add($"not an errno: {denial.Errno} (for {denial.Name})");
        }
        foreach (var prog in Seccomp.RawPrograms)
        {
            if (prog.IsDefaultOrEmpty || prog.Length % 8 != 0 || prog.Length / 8 > 4096)
                problems.Add("a seccomp program must hold 1 to 4096 instructions of 8 bytes");
        }
        if (PidVariable is { } pidVar && (pidVar.Length == 0 || pidVar.Contains('=')))
            problems.Add($"not a valid environment variable name: '{pidVar}'");
        foreach (int sig in IgnoredSignals.Select(Interop.Interop.Signals.FromPosixSignal))
        {
            if (sig is < 1 or > 64 or 9 or 19)
                problems.Add($"signal {sig} cannot be ignored");
        }
        problems.AddRange(Limits.Validate());
        if (Trace is { } trace)
            problems.AddRange(trace.Validate());
        if (SyscallCallback is { } callback)
        {
            if (Seccomp.UserNotification && !callback.Traced)
                problems.Add("a syscall callback and a notify action of a seccomp profile both need the one listener: drop one of them");
            if (callback.Traced && Trace is not null)
                problems.Add("a traced syscall callback and a trace both need the one tracer: drop one of them");
            foreach (string name in callback.Syscalls.Where(n => Policy.SyscallTable.Native.Number(n) is null))
                problems.Add($"the syscall callback names an unknown system call: {name}");
            if (callback.Syscalls.IsDefaultOrEmpty)
                problems.Add("the syscall callback names no system call");
            else if (callback.Syscalls.All(n => n == Policy.SyscallCallback.StageCall))
                problems.Add($"the syscall callback cannot decide {Policy.SyscallCallback.StageCall}: the sandbox's start needs it once the filter is in");
        }
        foreach (var (mode, fd) in new[] { (StandardInput, 0), (StandardOutput, 1), (StandardError, 2) })
        {
            if (mode != StdioMode.Inherit && Fds.Any(m => m.SandboxFd == fd))
                problems.Add($"descriptor {fd} is both mapped and set to {mode}: drop one of them");
        }
        if (ForegroundTerminal is not null && (NewSession || Terminal is not null))
            problems.Add("the terminal's foreground is for a sandbox in the caller's session: drop the new session or the pseudo-terminal");
        if (Terminal is not null && (StandardInput | StandardOutput | StandardError) != StdioMode.Inherit)
            problems.Add("a terminal is the payload's standard input and output: drop the pipes or the terminal");
        if (FileSystem is DirectoryFileSystem { Path: var root } && !root.StartsWith('/'))
            problems.Add($"the root directory must be an absolute path: {root}");
        if (FileSystem is RootfsFileSystem { Path: var rootfs } && !rootfs.StartsWith('/'))
            problems.Add($"the root directory must be an absolute path: {rootfs}");
        foreach (var nsfd in NamespaceFds)
        {
            if ((nsfd.Kind & (NamespaceKinds.User | NamespaceKinds.Pid)) != 0 || nsfd.Kind == NamespaceKinds.None || (nsfd.Kind & (nsfd.Kind - 1)) != 0)
                problems.Add($"a namespace joined by descriptor must be one kind other than user and pid (those have their own fields): {nsfd.Kind}");
            if ((Namespaces & nsfd.Kind) != 0)
                problems.Add($"the {nsfd.Kind} namespace cannot be both joined and created: drop it from one of the two");
        }
        if (NamespaceFds.Length > 0 && JoinProcessFd is not null)
            problems.Add("join either a process's namespaces or namespaces by descriptor, not both");
        if (DomainName is not null && !ownUts)
            problems.Add("a domain name needs a UTS namespace: add --unshare-uts");
        if (DomainName is { Length: > 64 })
            problems.Add($"domain name is longer than 64 bytes: {DomainName}");
        foreach (var sysctl in Sysctls)
        {
            if (sysctl.Name.Length == 0 || sysctl.Name.Split('.', '/').Any(p => p is "" or "." or ".."))
                problems.Add($"not a kernel parameter name: '{sysctl.Name}'");
        }
        foreach (var rl in Rlimits)
        {
            if (rl.Resource is < 0 or > 15)
                problems.Add($"not a resource limit: {rl.Resource}");
            else if (rl.Soft > rl.Hard)
                problems.Add($"resource limit {rl.Resource}: the soft limit {rl.Soft} is above the hard limit {rl.Hard}");
        }
        if (OomScoreAdjust is < -1000 or > 1000)
            problems.Add($"the OOM score adjustment must be -1000 to 1000: {OomScoreAdjust}");
        if (TerminalConsole is not null && Terminal is null)
            problems.Add("a console needs the pseudo-terminal: add --tty");
        if (TerminalConsole is { } console && !console.StartsWith('/'))
            problems.Add($"the console's path must be absolute: {console}");
        if (FileSystem is HostOverlayFileSystem { Root: var layer } && !layer.StartsWith('/'))
            problems.Add($"the layer's root must be an absolute path: {layer}");
        foreach (var env in Environment)
        {
            if (!env.Contains('='))
                problems.Add($"environment entry without '=': {env}");
        }
        return problems.ToImmutable();
    }
}
