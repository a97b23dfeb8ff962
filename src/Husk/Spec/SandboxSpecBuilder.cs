using System.Collections.Immutable;
using System.Text;
using Husk.Resources;

namespace Husk;

/// <summary>
/// Builds a <see cref="SandboxSpec"/> the way <c>husk run</c> does from its options: every
/// namespace but time, the host's tree read-only (<c>--fs ro</c>) with a fresh /proc, a minimal
/// /dev and a private /tmp, the caller's environment, no capabilities, no new privileges, a session
/// of its own. Each method is named for the option it stands for. Filesystem operations apply in
/// the order they are added, after the base tree.
/// </summary>
/// <example>
/// <code>
/// var spec = new SandboxSpecBuilder("/usr/bin/python3", "main.py")
///     .Bind("/srv/job", "/job").Chdir("/job")
///     .TimeLimit("2s").Memory("256M").Pids(16).OutputLimit("1M")
///     .PipeOutput()
///     .Build();
/// SandboxResult result = await Sandbox.RunAsync(spec);
/// </code>
/// </example>
public sealed class SandboxSpecBuilder
{
    private enum Base { HostReadOnly, HostWritable, Empty, Directory }

    private readonly List<string> _command;
    private readonly List<MountOp> _mounts = [];
    private readonly Dictionary<string, string> _env = new(StringComparer.Ordinal);
    private readonly List<FdMapping> _fds = [];
    private readonly List<string> _problems = [];
    private Base _base = Base.HostReadOnly;
    private string? _rootDirectory;
    private NamespaceKinds _namespaces = NamespaceKinds.AllButTime;
    private int? _userNamespaceFd, _pidNamespaceFd;
    private bool? _disableUserNamespaces;
    private TerminalSize? _terminal;
    private bool _dieWithParent = true, _showSecrets;
    private string? _home = System.Environment.GetEnvironmentVariable("HOME");
    private bool _asPid1, _newSession = true, _mapSubIds, _seccompUnconfined;
    private Policy.SeccompPolicy _seccompProfile = Policy.SeccompProfiles.Default;
    private readonly List<string> _allowSyscalls = [];
    private readonly List<(string Name, int Errno)> _denySyscalls = [];
    private ulong _capabilities;
    private string? _landlock;
    private readonly List<ushort> _tcpBind = [], _tcpConnect = [];
    private uint? _uid, _gid;
    private string? _hostname, _argv0, _chdir;
    private ResourceLimits _limits = ResourceLimits.None;
    private StdioMode _stdin, _stdout, _stderr;
    private Policy.SyscallCallback? _syscallCallback;

    /// <summary>A builder for a sandbox that runs <paramref name="command"/> with <paramref name="args"/>.</summary>
    public SandboxSpecBuilder(string command, params string[] args)
    {
        _command = [command, .. args];
        foreach (System.Collections.DictionaryEntry e in System.Environment.GetEnvironmentVariables())
            _env[(string)e.Key] = (string?)e.Value ?? "";
    }

    // ---- namespaces and identity ----

    /// <summary><c>--unshare-*</c>: new namespaces of these kinds.</summary>
    public SandboxSpecBuilder Unshare(NamespaceKinds kinds) => Do(() => _namespaces |= kinds);

    /// <summary><c>--share-*</c>: keep the caller's namespaces of these kinds (<c>--share-net</c>: the host's network).</summary>
    public SandboxSpecBuilder Share(NamespaceKinds kinds) => Do(() => _namespaces &= ~kinds);

    /// <summary><c>--userns FD</c>: join the user namespace open at <paramref name="fd"/> instead of creating one.</summary>
    public SandboxSpecBuilder UserNamespace(int fd) => Do(() => _userNamespaceFd = fd);

    /// <summary><c>--pidns FD</c>: join the pid namespace open at <paramref name="fd"/>.</summary>
    public SandboxSpecBuilder PidNamespace(int fd) => Do(() => _pidNamespaceFd = fd);

    /// <summary><c>--disable-userns</c>: the payload cannot create user namespaces of its own (the default in a new user namespace).</summary>
    public SandboxSpecBuilder DisableUserNamespaces() => Do(() => _disableUserNamespaces = true);

    /// <summary>
    /// <c>--allow-userns</c>: nested sandboxes may run: user namespaces, and in the seccomp profile
    /// namespace flags, clone3 and mounting; Landlock off unless <see cref="Landlock"/> says otherwise.
    /// </summary>
    public SandboxSpecBuilder AllowUserNamespaces() => Do(() => _disableUserNamespaces = false);

    /// <summary><c>--become-root</c>: uid and gid 0 inside.</summary>
    public SandboxSpecBuilder BecomeRoot() => Do(() => (_uid, _gid) = (0u, 0u));

    /// <summary><c>--uid N</c>: the uid inside.</summary>
    public SandboxSpecBuilder Uid(uint uid) => Do(() => _uid = uid);

    /// <summary><c>--gid N</c>: the gid inside.</summary>
    public SandboxSpecBuilder Gid(uint gid) => Do(() => _gid = gid);

    /// <summary><c>--map-subids</c>: map the caller's subordinate id range (newuidmap, newgidmap).</summary>
    public SandboxSpecBuilder MapSubordinateIds() => Do(() => _mapSubIds = true);

    /// <summary><c>--hostname NAME</c> (default "husk" in a new UTS namespace).</summary>
    public SandboxSpecBuilder Hostname(string name) => Do(() => _hostname = name);

    // ---- filesystem ----

    /// <summary><c>--fs ro</c> (the default): each top-level entry of the host read-only on a root of the sandbox's own.</summary>
    public SandboxSpecBuilder HostReadOnly() => Do(() => _base = Base.HostReadOnly);

    /// <summary><c>--fs host</c>: the host's tree as it is, writable where the caller may write.</summary>
    public SandboxSpecBuilder HostWritable() => Do(() => _base = Base.HostWritable);

    /// <summary><c>--fs tmpfs</c>: an empty, writable root in memory that vanishes with the sandbox; add what the payload needs with binds.</summary>
    public SandboxSpecBuilder EmptyRoot() => Do(() => _base = Base.Empty);

    /// <summary><c>--fs DIR</c>: <paramref name="directory"/> read-only as the root.</summary>
    public SandboxSpecBuilder RootDirectory(string directory) => Do(() => (_base, _rootDirectory) = (Base.Directory, Path.GetFullPath(directory)));

    /// <summary><c>--bind SRC DST</c> (with <paramref name="optional"/>: <c>--bind-try</c>).</summary>
    public SandboxSpecBuilder Bind(string source, string destination, bool optional = false) =>
        Mount(new BindMount(Path.GetFullPath(source), destination) { Optional = optional });

    /// <summary><c>--ro-bind SRC DST</c> (with <paramref name="optional"/>: <c>--ro-bind-try</c>).</summary>
    public SandboxSpecBuilder ReadOnlyBind(string source, string destination, bool optional = false) =>
        Mount(new BindMount(Path.GetFullPath(source), destination) { ReadOnly = true, Optional = optional });

    /// <summary><c>--dev-bind SRC DST</c>: a bind where device nodes work.</summary>
    public SandboxSpecBuilder DeviceBind(string source, string destination, bool optional = false) =>
        Mount(new BindMount(Path.GetFullPath(source), destination) { Devices = true, Optional = optional });

    /// <summary><c>--tmpfs DST [--size] [--perms]</c>: without a size, a memory limit caps it.</summary>
    public SandboxSpecBuilder Tmpfs(string destination, long? size = null, int mode = 0x1ED) =>
        Mount(new TmpfsMount(destination) { Size = size, Mode = mode });

    /// <summary><c>--proc DST</c>: a procfs of the sandbox's pid namespace.</summary>
    public SandboxSpecBuilder Proc(string destination) => Mount(new ProcMount(destination));

    /// <summary><c>--dev DST</c>: a minimal /dev.</summary>
    public SandboxSpecBuilder Dev(string destination) => Mount(new DevMount(destination));

    /// <summary><c>--mqueue DST</c>.</summary>
    public SandboxSpecBuilder Mqueue(string destination) => Mount(new MqueueMount(destination));

    /// <summary><c>--dir DST [--perms]</c>.</summary>
    public SandboxSpecBuilder Dir(string destination, int mode = 0x1ED) => Mount(new MakeDirectory(destination) { Mode = mode });

    /// <summary><c>--symlink TARGET DST</c>.</summary>
    public SandboxSpecBuilder Symlink(string target, string destination) => Mount(new MakeSymlink(target, destination));

    /// <summary><c>--write DATA DST [--perms]</c>: a file with these contents.</summary>
    public SandboxSpecBuilder Write(string destination, string data, int mode = 0x1A4) =>
        Mount(new WriteFile(destination) { Data = [.. Encoding.UTF8.GetBytes(data)], Mode = mode });

    /// <summary><c>--write</c> with bytes.</summary>
    public SandboxSpecBuilder Write(string destination, ReadOnlySpan<byte> data, int mode = 0x1A4) =>
        Mount(new WriteFile(destination) { Data = [.. data], Mode = mode });

    /// <summary><c>--file FD DST</c>: a file with the contents read from <paramref name="fd"/>.</summary>
    public SandboxSpecBuilder File(int fd, string destination) => Mount(new WriteFile(destination) { Fd = fd });

    /// <summary><c>--chmod MODE PATH</c>.</summary>
    public SandboxSpecBuilder Chmod(int mode, string path) => Mount(new ChangeMode(path, mode));

    /// <summary><c>--remount-ro DST</c>.</summary>
    public SandboxSpecBuilder RemountReadOnly(string destination) => Mount(new RemountReadOnly(destination));

    /// <summary><c>--tmp-overlay DST</c> over <paramref name="lowers"/> (default: DST of the host): writes go to memory and vanish.</summary>
    public SandboxSpecBuilder TemporaryOverlay(string destination, params string[] lowers) =>
        Mount(new OverlayMount(destination, [.. (lowers.Length == 0 ? [destination] : lowers).Select(Path.GetFullPath)]));

    /// <summary><c>--ro-overlay DST</c>: a read-only union of <paramref name="lowers"/>.</summary>
    public SandboxSpecBuilder ReadOnlyOverlay(string destination, params string[] lowers) =>
        Mount(new OverlayMount(destination, [.. lowers.Select(Path.GetFullPath)]) { Kind = OverlayKind.ReadOnly });

    /// <summary>Any filesystem operation of the spec's own, in order with the others.</summary>
    public SandboxSpecBuilder Mount(MountOp op) => Do(() => _mounts.Add(op));

    /// <summary><c>--hide PATH</c>: an empty directory or file in PATH's place.</summary>
    public SandboxSpecBuilder Hide(string path) => Do(() =>
    {
        if (FileSystem.Hiding.Hide(path) is { } op)
            _mounts.Add(op);
        else
            _problems.Add($"nothing to hide at {path}: no such file or directory");
    });

    /// <summary>The home directory whose secrets are hidden (default: $HOME when the builder was made).</summary>
    public SandboxSpecBuilder SecretsUnder(string home) => Do(() => _home = home);

    /// <summary><c>--show-secrets</c>: do not hide ~/.ssh, ~/.gnupg and the other secrets of the home directory (hidden by default over the host's tree).</summary>
    public SandboxSpecBuilder ShowSecrets() => Do(() => _showSecrets = true);

    // ---- process ----

    /// <summary><c>--chdir DIR</c>.</summary>
    public SandboxSpecBuilder Chdir(string directory) => Do(() => _chdir = directory);

    /// <summary><c>--setenv NAME VALUE</c>.</summary>
    public SandboxSpecBuilder SetEnv(string name, string value) => Do(() => _env[name] = value);

    /// <summary><c>--unsetenv NAME</c>.</summary>
    public SandboxSpecBuilder UnsetEnv(string name) => Do(() => _env.Remove(name));

    /// <summary><c>--clearenv</c>: start from an empty environment.</summary>
    public SandboxSpecBuilder ClearEnv() => Do(_env.Clear);

    /// <summary><c>--argv0 NAME</c>.</summary>
    public SandboxSpecBuilder Argv0(string name) => Do(() => _argv0 = name);

    /// <summary><c>--pass-fd N</c>: the caller's descriptor N stays open as N inside.</summary>
    public SandboxSpecBuilder PassFd(int fd) => Do(() => _fds.Add(new FdMapping(fd, fd)));

    /// <summary><c>--new-session</c> (the default) or <c>--no-new-session</c>.</summary>
    public SandboxSpecBuilder NewSession(bool newSession = true) => Do(() => _newSession = newSession);

    /// <summary><c>--as-pid-1</c>: the payload is pid 1, without husk-init.</summary>
    public SandboxSpecBuilder AsPid1() => Do(() => _asPid1 = true);

    /// <summary>Standard input: the caller's (default), a pipe (<see cref="SandboxProcess.StandardInput"/>) or /dev/null.</summary>
    public SandboxSpecBuilder StandardInput(StdioMode mode) => Do(() => _stdin = mode);

    /// <summary>Standard output: the caller's (default), a pipe (counted against the output limit) or /dev/null.</summary>
    public SandboxSpecBuilder StandardOutput(StdioMode mode) => Do(() => _stdout = mode);

    /// <summary>Standard error: the caller's (default), a pipe (counted against the output limit) or /dev/null.</summary>
    public SandboxSpecBuilder StandardError(StdioMode mode) => Do(() => _stderr = mode);

    /// <summary>
    /// <c>--tty</c>: the payload gets a pseudo-terminal of the sandbox's own, <paramref name="rows"/> by
    /// <paramref name="columns"/>, as its stdin, stdout, stderr and controlling terminal; read and
    /// write it through <see cref="SandboxProcess.Terminal"/>.
    /// </summary>
    public SandboxSpecBuilder Tty(ushort rows = 24, ushort columns = 80) => Do(() => _terminal = new TerminalSize(rows, columns));

    /// <summary><c>--die-with-parent</c> (the default) or not: whether the sandbox is killed when the process that started it dies.</summary>
    public SandboxSpecBuilder DieWithParent(bool die = true) => Do(() => _dieWithParent = die);

    /// <summary>Standard output and error as pipes: <see cref="Sandbox.RunAsync"/> captures them, and husk counts them.</summary>
    public SandboxSpecBuilder PipeOutput() => StandardOutput(StdioMode.Pipe).StandardError(StdioMode.Pipe);

    /// <summary>
    /// A syscall policy callback: the named system calls stop and <paramref name="decide"/> allows,
    /// denies (errno) or kills (<see cref="Verdict.RestrictedFunction"/>) each.
    /// </summary>
    public SandboxSpecBuilder OnSyscall(IEnumerable<string> syscalls, Func<Policy.SyscallRequest, Policy.SyscallDecision> decide) =>
        Do(() => _syscallCallback = new Policy.SyscallCallback([.. syscalls], decide));

    // ---- policy ----

    /// <summary><c>--seccomp-profile NAME</c>: a built-in system call policy (default, judge).</summary>
    public SandboxSpecBuilder SeccompProfile(string name) => Do(() =>
    {
        if (Policy.SeccompProfiles.BuiltIn.TryGetValue(name, out var profile))
            _seccompProfile = profile;
        else
            _problems.Add($"no built-in seccomp profile named {name}: use {string.Join(" or ", Policy.SeccompProfiles.BuiltIn.Keys)}, or pass a SeccompPolicy");
    });

    /// <summary><c>--seccomp-profile FILE</c>'s equivalent: a system call policy of your own.</summary>
    public SandboxSpecBuilder SeccompProfile(Policy.SeccompPolicy policy) => Do(() => _seccompProfile = policy);

    /// <summary><c>--seccomp unconfined</c>: no filter but the <see cref="DenySyscall"/> rules.</summary>
    public SandboxSpecBuilder SeccompUnconfined() => Do(() => _seccompUnconfined = true);

    /// <summary><c>--allow-syscall NAME</c>: allow a system call whatever the profile says.</summary>
    public SandboxSpecBuilder AllowSyscall(string name) => Do(() =>
    {
        if (KnownSyscall(name))
            _allowSyscalls.Add(name);
    });

    /// <summary><c>--deny-syscall NAME[:ERRNO]</c>: fail a system call with <paramref name="errno"/> (EPERM unless given).</summary>
    public SandboxSpecBuilder DenySyscall(string name, int errno = 1) => Do(() =>
    {
        if (errno is < 1 or > 4095)
            _problems.Add($"not an errno: {errno}");
        else if (KnownSyscall(name))
            _denySyscalls.Add((name, errno));
    });

    private bool KnownSyscall(string name)
    {
        if (Policy.SyscallTable.IsKnown(name))
            return true;
        _problems.Add($"unknown system call: {name}");
        return false;
    }

    /// <summary><c>--cap-add CAP</c>: keep capability CAP inside (a name with or without CAP_, or ALL).</summary>
    public SandboxSpecBuilder CapAdd(string capability) => Do(() => _capabilities |= CapabilityMask(capability));

    /// <summary><c>--cap-drop CAP</c>: drop capability CAP again (or ALL); the payload starts with none.</summary>
    public SandboxSpecBuilder CapDrop(string capability) => Do(() => _capabilities &= ~CapabilityMask(capability));

    private ulong CapabilityMask(string name)
    {
        if (name.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            return Policy.CapabilityNames.All;
        if (Policy.CapabilityNames.TryParse(name, out int cap))
            return 1UL << cap;
        _problems.Add($"unknown capability: {name}");
        return 0;
    }

    /// <summary>
    /// <c>--landlock MODE</c>: off, on (the default: filesystem rules that mirror the mounts, and
    /// scoping) or strict (no TCP, nothing executes where the sandbox can write, every ABI feature).
    /// </summary>
    public SandboxSpecBuilder Landlock(string mode) => Do(() =>
    {
        if (mode is "off" or "on" or "strict")
            _landlock = mode;
        else
            _problems.Add($"Landlock mode {mode}: use off, on or strict");
    });

    /// <summary><c>--tcp-bind PORT</c>: with Landlock, binding TCP port PORT is allowed; once given, other ports are refused.</summary>
    public SandboxSpecBuilder TcpBind(ushort port) => Do(() => _tcpBind.Add(port));

    /// <summary><c>--tcp-connect PORT</c>: with Landlock, connecting to TCP port PORT is allowed; once given, other ports are refused.</summary>
    public SandboxSpecBuilder TcpConnect(ushort port) => Do(() => _tcpConnect.Add(port));

    // ---- limits ----

    /// <summary><c>--time-limit</c>: CPU time of the whole tree.</summary>
    public SandboxSpecBuilder TimeLimit(TimeSpan cpu) => Limits(l => l with { CpuTime = cpu });

    /// <summary><c>--time-limit</c> with units: "1.5s", "250ms".</summary>
    public SandboxSpecBuilder TimeLimit(string cpu) => TimeLimit(Duration(cpu, "time limit"));

    /// <summary><c>--wall-time</c>: wall-clock time from the payload's start.</summary>
    public SandboxSpecBuilder WallTime(TimeSpan wall) => Limits(l => l with { WallTime = wall });

    /// <summary><c>--wall-time</c> with units.</summary>
    public SandboxSpecBuilder WallTime(string wall) => WallTime(Duration(wall, "wall time"));

    /// <summary><c>--memory</c>: memory of the whole tree in bytes.</summary>
    public SandboxSpecBuilder Memory(long bytes) => Limits(l => l with { MemoryBytes = bytes });

    /// <summary><c>--memory</c> with units: "512M", "1.5G".</summary>
    public SandboxSpecBuilder Memory(string size) => Memory(Size(size, "memory"));

    /// <summary><c>--address-space</c>: RLIMIT_AS of every process.</summary>
    public SandboxSpecBuilder AddressSpace(long bytes) => Limits(l => l with { AddressSpaceBytes = bytes });

    /// <summary><c>--address-space</c> with units.</summary>
    public SandboxSpecBuilder AddressSpace(string size) => AddressSpace(Size(size, "address space"));

    /// <summary><c>--pids</c>: processes and threads of the tree.</summary>
    public SandboxSpecBuilder Pids(int count) => Limits(l => l with { Processes = count });

    /// <summary><c>--output-limit</c>: any file's size, and standard output and error together when piped.</summary>
    public SandboxSpecBuilder OutputLimit(long bytes) => Limits(l => l with { OutputBytes = bytes });

    /// <summary><c>--output-limit</c> with units.</summary>
    public SandboxSpecBuilder OutputLimit(string size) => OutputLimit(Size(size, "output limit"));

    /// <summary><c>--open-files</c>: RLIMIT_NOFILE.</summary>
    public SandboxSpecBuilder OpenFiles(int count) => Limits(l => l with { OpenFiles = count });

    /// <summary><c>--stack</c>: RLIMIT_STACK.</summary>
    public SandboxSpecBuilder Stack(long bytes) => Limits(l => l with { StackBytes = bytes });

    /// <summary><c>--stack</c> with units.</summary>
    public SandboxSpecBuilder Stack(string size) => Stack(Size(size, "stack"));

    /// <summary><c>--cpus</c>: CPU bandwidth in CPUs (needs a cgroup).</summary>
    public SandboxSpecBuilder Cpus(double cpus) => Limits(l => l with { Cpus = cpus });

    /// <summary><c>--cgroup-parent</c>: create the sandbox's cgroup under this cgroup directory.</summary>
    public SandboxSpecBuilder CgroupParent(string path) => Limits(l => l with { CgroupParent = Path.GetFullPath(path) });

    /// <summary>Forces a limit backend instead of the best available one.</summary>
    public SandboxSpecBuilder Backend(LimitBackend backend) => Limits(l => l with { Backend = backend });

    /// <summary>Measure usage and give a verdict even without limits (<c>--report</c> does this).</summary>
    public SandboxSpecBuilder MeasureUsage() => Limits(l => l with { MeasureUsage = true });

    /// <summary>Replaces the limits at once.</summary>
    public SandboxSpecBuilder Limits(ResourceLimits limits) => Do(() => _limits = limits);

    private SandboxSpecBuilder Limits(Func<ResourceLimits, ResourceLimits> change) => Do(() => _limits = change(_limits));

    private TimeSpan Duration(string text, string what)
    {
        if (LimitUnits.TryParseDuration(text, out var d))
            return d;
        _problems.Add($"the {what} {text} is not a duration such as 1.5s or 250ms");
        return TimeSpan.FromSeconds(1);
    }

    private long Size(string text, string what)
    {
        if (LimitUnits.TryParseSize(text, out long n))
            return n;
        _problems.Add($"the {what} {text} is not a size such as 512M");
        return 1;
    }

    private SandboxSpecBuilder Do(Action change)
    {
        change();
        return this;
    }

    /// <summary>The spec; throws <see cref="SandboxSpecException"/> listing every problem at once.</summary>
    public SandboxSpec Build()
    {
        bool mountNs = _namespaces.HasFlag(NamespaceKinds.Mount);
        var mounts = new List<MountOp>();
        if (mountNs)
            mounts.AddRange(BaseMounts());
        mounts.AddRange(_mounts);
        if (mountNs && _base is Base.HostReadOnly or Base.Directory)
            mounts.Add(new RemountReadOnly("/"));
        if (!mountNs && _mounts.Count > 0)
            _problems.Add("filesystem operations need a mount namespace: do not share it");
        var spec = new SandboxSpec
        {
            Command = [.. _command],
            Argv0 = _argv0,
            Namespaces = _userNamespaceFd is not null ? _namespaces & ~NamespaceKinds.User : _namespaces,
            UserNamespaceFd = _userNamespaceFd,
            PidNamespaceFd = _pidNamespaceFd,
            DisableUserNamespaces = _disableUserNamespaces ?? (_namespaces.HasFlag(NamespaceKinds.User) && _userNamespaceFd is null),
            Identity = new Identity { Uid = _uid, Gid = _gid, Mapping = _mapSubIds ? IdMapping.SubordinateRange : IdMapping.Auto },
            Hostname = _namespaces.HasFlag(NamespaceKinds.Uts) ? _hostname ?? "husk" : _hostname,
            Mounts = mountNs ? [.. mounts] : null,
            Environment = [.. _env.Select(kv => $"{kv.Key}={kv.Value}")],
            WorkingDirectory = _chdir,
            NewSession = _newSession,
            Terminal = _terminal,
            DieWithParent = _dieWithParent,
            AsPid1 = _asPid1,
            Fds = [.. _fds],
            Capabilities = Policy.PolicyDefaults.Capabilities(_capabilities),
            NoNewPrivileges = true,
            SeccompPrograms = Policy.PolicyDefaults.Seccomp(_seccompProfile, _seccompUnconfined, _allowSyscalls, _denySyscalls, _disableUserNamespaces == false) is { } seccomp
                ? [Policy.SeccompCompiler.Compile(seccomp)] : [],
            Landlock = mountNs ? Policy.PolicyDefaults.Landlock(_landlock, _disableUserNamespaces == false, mounts, _tcpBind, _tcpConnect) : null,
            Limits = _limits,
            StandardInput = _stdin,
            StandardOutput = _stdout,
            StandardError = _stderr,
            SyscallCallback = _syscallCallback,
        };
        var problems = _problems.Concat(spec.Validate()).ToImmutableArray();
        if (problems.Length > 0)
            throw new SandboxSpecException(problems);
        return spec;
    }

    /// <summary>
    /// Each top-level entry of the host read-only (symlinks as symlinks), on a root of the sandbox's
    /// own: new mount points can be made in it, and it turns read-only once every op has run.
    /// </summary>
    internal static IEnumerable<MountOp> HostEntriesReadOnly()
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries("/").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(entry);
            if (name is "proc" or "dev" or "tmp" or "run")
                continue;
            if (new FileInfo(entry).LinkTarget is { } target)
                yield return new MakeSymlink(target, entry);
            else
                yield return new BindMount(entry, entry) { ReadOnly = true, Optional = true };
        }
    }

    private IEnumerable<MountOp> BaseMounts()
    {
        switch (_base)
        {
            case Base.HostWritable:
                yield return new BindMount("/", "/") { Devices = true };
                yield return new ProcMount("/proc");
                yield break;
            case Base.Directory:
                yield return new BindMount(_rootDirectory!, "/") { ReadOnly = true };
                break;
            case Base.Empty:
                // A mount of its own on the root, so Landlock's mirror of the mounts lets it be written.
                yield return new TmpfsMount("/") { Mode = 0x1ED };
                break;
            case Base.HostReadOnly:
                foreach (var op in HostEntriesReadOnly())
                    yield return op;
                break;
        }
        yield return new ProcMount("/proc");
        yield return new DevMount("/dev");
        yield return new TmpfsMount("/tmp") { Mode = 0x3FF | 0x200 };
        if (_base == Base.HostReadOnly)
        {
            yield return new TmpfsMount("/var/tmp") { Mode = 0x3FF | 0x200 };
            // The session's sockets live under /run: a read-only bind would not stop connect().
            yield return new TmpfsMount("/run") { Mode = 0x1ED };
            if (!_showSecrets)
            {
                foreach (var op in FileSystem.Hiding.HideHomeSecrets(_home).Concat(FileSystem.Hiding.HideSystemSecrets()))
                    yield return op;
            }
        }
    }
}
