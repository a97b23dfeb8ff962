using System.Runtime.InteropServices;
using System.Collections.Immutable;
using System.Text;
using Husk.Resources;

namespace Husk;

/// <summary>
/// Builds a <see cref="SandboxSpec"/> the way <c>husk run</c> does from its options: every
/// namespace but time, the host's tree read-only (<c>--fs ro</c>) with a fresh /proc, a minimal
/// /dev and a private /tmp, the caller's environment, no capabilities, no new privileges, a session
/// of its own, the default seccomp profile, Landlock and no nested user namespaces. Each method is
/// named for the option it stands for and returns a new builder (a builder never changes, so a base
/// can be shared). Filesystem operations apply in the order they are added, after the base tree.
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
    private readonly SandboxSpec _spec;
    private readonly ImmutableList<string> _problems;

    /// <summary>A builder for a sandbox that runs <paramref name="command"/> with <paramref name="args"/>.</summary>
    public SandboxSpecBuilder(string command, params string[] args)
        : this(new SandboxSpec { Command = [command, .. args], Environment = CallerEnvironment(), NewSession = true }, [])
    {
    }

    private SandboxSpecBuilder(SandboxSpec spec, ImmutableList<string> problems)
    {
        _spec = spec;
        _problems = problems;
    }

    /// <summary>The caller's environment as NAME=VALUE entries.</summary>
    internal static ImmutableArray<string> CallerEnvironment() => Launch.CallerEnvironment.Current();

    /// <summary>The spec as described so far, before <see cref="Build"/> resolves defaults and validates it.</summary>
    internal SandboxSpec Current => _spec;

    /// <summary>The command: the file to run (looked up in PATH when it has no slash) and its arguments.</summary>
    public SandboxSpecBuilder Command(string command, params string[] args) => With(s => s with { Command = [command, .. args] });

    private SandboxSpecBuilder With(Func<SandboxSpec, SandboxSpec> change) => new(change(_spec), _problems);

    private SandboxSpecBuilder Problem(string problem) => new(_spec, _problems.Add(problem));

    // ---- namespaces and identity ----

    /// <summary><c>--unshare-*</c>: new namespaces of these kinds.</summary>
    public SandboxSpecBuilder Unshare(NamespaceKinds kinds) => With(s => s with { Namespaces = s.Namespaces | kinds });

    /// <summary><c>--share-*</c>: keep the caller's namespaces of these kinds (<c>--share-net</c>: the host's network).</summary>
    public SandboxSpecBuilder Share(NamespaceKinds kinds) => With(s => s with { Namespaces = s.Namespaces & ~kinds });

    /// <summary><c>--userns FD</c>: join the user namespace open at <paramref name="fd"/> instead of creating one.</summary>
    public SandboxSpecBuilder UserNamespace(SafeHandle fd) => With(s => s with { UserNamespaceFd = fd });

    /// <summary><c>--pidns FD</c>: join the pid namespace open at <paramref name="fd"/>.</summary>
    public SandboxSpecBuilder PidNamespace(SafeHandle fd) => With(s => s with { PidNamespaceFd = fd });

    /// <summary><c>--disable-userns</c>: the payload cannot create user namespaces of its own (the default in a new user namespace).</summary>
    public SandboxSpecBuilder DisableUserNamespaces() => With(s => s with { NestedUserNamespaces = NestedUserNamespaces.Deny });

    /// <summary>
    /// <c>--allow-userns</c>: nested sandboxes may run: user namespaces, and in the seccomp profile
    /// namespace flags, clone3 and mounting; Landlock off unless <see cref="Landlock(string)"/> says otherwise.
    /// </summary>
    public SandboxSpecBuilder AllowUserNamespaces() => With(s => s with { NestedUserNamespaces = NestedUserNamespaces.Allow });

    /// <summary><c>--become-root</c>: uid and gid 0 inside.</summary>
    public SandboxSpecBuilder BecomeRoot() => With(s => s with { Identity = s.Identity with { Uid = 0, Gid = 0 } });

    /// <summary><c>--uid N</c>: the uid inside.</summary>
    public SandboxSpecBuilder Uid(uint uid) => With(s => s with { Identity = s.Identity with { Uid = uid } });

    /// <summary><c>--gid N</c>: the gid inside.</summary>
    public SandboxSpecBuilder Gid(uint gid) => With(s => s with { Identity = s.Identity with { Gid = gid } });

    /// <summary><c>--map-subids</c>: map the caller's subordinate id range (newuidmap, newgidmap).</summary>
    public SandboxSpecBuilder MapSubordinateIds() => With(s => s with { Identity = s.Identity with { Mapping = IdMapping.SubordinateRange } });

    /// <summary><c>--hostname NAME</c> (default "husk" in a new UTS namespace).</summary>
    public SandboxSpecBuilder Hostname(string name) => With(s => s with { Hostname = name });

    // ---- network ----

    /// <summary>
    /// <c>--net MODE</c>: loopback only (<see cref="NetworkMode.None"/>, the default), the host's
    /// network, user-mode NAT (pasta or slirp4netns, rootless) or a bridge (as root).
    /// </summary>
    public SandboxSpecBuilder Network(NetworkMode mode) => With(s => s with
    {
        Namespaces = mode == NetworkMode.Host ? s.Namespaces & ~NamespaceKinds.Net : s.Namespaces | NamespaceKinds.Net,
        Network = s.Network with { Mode = mode },
    });

    /// <summary><c>--net MODE</c> by name: none, host, nat or bridge.</summary>
    public SandboxSpecBuilder Network(string mode) => mode switch
    {
        "none" => Network(NetworkMode.None),
        "host" => Network(NetworkMode.Host),
        "nat" => Network(NetworkMode.Nat),
        "bridge" => Network(NetworkMode.Bridge),
        _ => Problem($"unknown network mode {mode}: use none, host, nat or bridge"),
    };

    /// <summary>Replaces the whole network description at once.</summary>
    public SandboxSpecBuilder Network(NetworkSpec network) => With(s => s with { Network = network });

    /// <summary>
    /// <c>--allow-host RULE</c>: allow egress to a name (<c>example.com</c>), the names below a domain
    /// (<c>*.example.com</c>), an address or a CIDR block of either family, each with an optional
    /// <c>:PORT</c> or <c>:LOW-HIGH</c>. Any rule turns the allowlist on: what no rule allows is refused.
    /// </summary>
    public SandboxSpecBuilder AllowHost(string rule) =>
        EgressRule.TryParse(rule, out var parsed, out string? error) ? AllowHost(parsed!) : Problem($"--allow-host {rule}: {error}");

    /// <summary><c>--allow-host</c> with a parsed rule (its action applies: mbox's profiles also refuse and kill).</summary>
    public SandboxSpecBuilder AllowHost(EgressRule rule) => With(s => s with
    {
        Namespaces = s.Namespaces | NamespaceKinds.Net,
        Network = s.Network with { Filter = true, Rules = s.Network.Rules.Add(rule) },
    });

    /// <summary><c>--allow-hosts FILE</c>: one rule a line, <c>#</c> comments; mini-tapbox's <c>-F</c> files too.</summary>
    public SandboxSpecBuilder AllowHostsFrom(string file)
    {
        try
        {
            var builder = With(s => s with { Namespaces = s.Namespaces | NamespaceKinds.Net, Network = s.Network with { Filter = true } });
            foreach (var rule in Husk.Network.EgressRuleFile.Load(file))
                builder = builder.AllowHost(rule);
            return builder;
        }
        catch (Husk.Network.EgressRuleException e)
        {
            return Problem("--allow-hosts " + e.Message);
        }
    }

    /// <summary>
    /// The allowlist with no rule: the sandbox's traffic goes through the supervisor, which refuses
    /// everything (<paramref name="defaultAction"/>) and logs it.
    /// </summary>
    public SandboxSpecBuilder FilterEgress(EgressAction defaultAction = EgressAction.Refuse) => With(s => s with
    {
        Namespaces = s.Namespaces | NamespaceKinds.Net,
        Network = s.Network with { Filter = true, DefaultAction = defaultAction },
    });

    /// <summary><c>--publish HOSTPORT:SANDBOXPORT[/udp]</c> (nat and bridge).</summary>
    public SandboxSpecBuilder Publish(string publication)
    {
        try
        {
            return Publish(PortPublication.Parse(publication));
        }
        catch (FormatException e)
        {
            return Problem($"--publish {publication}: {e.Message}");
        }
    }

    /// <summary><c>--publish</c> with a parsed publication.</summary>
    public SandboxSpecBuilder Publish(PortPublication publication) => With(s => s with { Network = s.Network with { Publish = s.Network.Publish.Add(publication) } });

    /// <summary><c>--dns ADDR</c>: a nameserver of the sandbox's own /etc/resolv.conf (repeatable).</summary>
    public SandboxSpecBuilder Dns(string address) =>
        Husk.Network.IpNetwork.TryParseAddress(address, out var ip) ? Dns(ip) : Problem($"--dns {address}: not an IP address");

    /// <summary><c>--dns</c> with an address.</summary>
    public SandboxSpecBuilder Dns(System.Net.IPAddress address) => With(s => s with { Network = s.Network with { Dns = s.Network.Dns.Add(address) } });

    /// <summary><c>--dns-upstream ADDR[:PORT]</c>: the resolver the supervisor asks for allowed names (default: the host's).</summary>
    public SandboxSpecBuilder DnsUpstream(string server) =>
        Husk.Network.Endpoints.TryParse(server, 53, out var ep, out string? error) ? With(s => s with { Network = s.Network with { DnsUpstream = ep } }) : Problem($"--dns-upstream {server}: {error}");

    /// <summary><c>--allow-host-loopback</c>: with nat, the host's loopback is reachable through the gateway's address.</summary>
    public SandboxSpecBuilder AllowHostLoopback() => With(s => s with { Network = s.Network with { AllowHostLoopback = true } });

    /// <summary><c>--net-log FILE</c>: every connection and DNS question as JSON lines.</summary>
    public SandboxSpecBuilder NetworkLog(string file) => With(s => s with { Network = s.Network with { LogFile = Path.GetFullPath(file) } });

    /// <summary><c>--bridge-subnet CIDR</c>: the bridge's IPv4 subnet (default 10.77.0.0/16).</summary>
    public SandboxSpecBuilder BridgeSubnet(string cidr) =>
        System.Net.IPNetwork.TryParse(cidr, out var net) ? With(s => s with { Network = s.Network with { BridgeSubnet = net } }) : Problem($"--bridge-subnet {cidr}: not a CIDR block such as 10.77.0.0/16");

    /// <summary>A random hostname such as "quiet-harbor" (<see cref="Husk.RandomHostname"/>), as microbox names its sandboxes.</summary>
    public SandboxSpecBuilder RandomHostname() => Hostname(Husk.RandomHostname.Next());

    // ---- filesystem ----

    /// <summary>The base tree (<c>--fs</c>): see <see cref="FileSystemSpec"/>.</summary>
    public SandboxSpecBuilder FileSystem(FileSystemSpec fileSystem) => With(s => s with { FileSystem = fileSystem });

    /// <summary><c>--fs ro</c> (the default): each top-level entry of the host read-only on a root of the sandbox's own.</summary>
    public SandboxSpecBuilder HostReadOnly() => FileSystem(FileSystemSpec.HostReadOnly);

    /// <summary><c>--fs host</c>: the host's tree as it is, writable where the caller may write.</summary>
    public SandboxSpecBuilder HostWritable() => FileSystem(FileSystemSpec.Host());

    /// <summary><c>--fs tmpfs</c>: an empty, writable root in memory that vanishes with the sandbox; add what the payload needs with binds.</summary>
    public SandboxSpecBuilder EmptyRoot() => FileSystem(FileSystemSpec.Empty());

    /// <summary>
    /// <c>--fs DIR</c>: <paramref name="directory"/> as the root, overlaid so that writes vanish with the
    /// sandbox, or (<paramref name="readOnly"/>, <c>--readonly</c>) bound read-only.
    /// </summary>
    public SandboxSpecBuilder RootDirectory(string directory, bool readOnly = true) => FileSystem(FileSystemSpec.Directory(Path.GetFullPath(directory), readOnly));

    /// <summary>
    /// <c>--image REF</c>: an OCI image as the root (<see cref="FileSystemSpec.Image"/>), its writes
    /// vanishing with the sandbox. The image's environment replaces the builder's (the caller's):
    /// variables set after this call go over the image's. Its working directory and user apply
    /// unless <see cref="Chdir"/>, <see cref="Uid"/> or <see cref="BecomeRoot"/> say otherwise; its
    /// entrypoint runs before the command (see <see cref="ForImage"/> for the image's own command).
    /// </summary>
    public SandboxSpecBuilder Image(string reference, bool readOnly = false) =>
        With(s => s with { FileSystem = FileSystemSpec.Image(reference, readOnly), Environment = [] });

    /// <summary>A builder for a sandbox that runs what the image's config says (<c>husk run --image REF</c> without a command).</summary>
    public static SandboxSpecBuilder ForImage(string reference, bool readOnly = false) =>
        new SandboxSpecBuilder(new SandboxSpec { Command = [], NewSession = true }, []).Image(reference, readOnly);

    /// <summary>
    /// <c>husk run</c>'s default view: the host's tree through overlays whose writes land in a layer
    /// under <paramref name="root"/> (created, or resumed when it exists), capped at
    /// <paramref name="storage"/> bytes when given (<c>--storage</c>). After the run, review and commit
    /// the changes with <see cref="Husk.Layers.SandboxRoot"/>.
    /// </summary>
    public SandboxSpecBuilder HostOverlay(string root, long? storage = null) =>
        FileSystem(FileSystemSpec.HostOverlay(Path.GetFullPath(root)) with { StorageSize = storage });

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
    public SandboxSpecBuilder Tmpfs(string destination, long? size = null, UnixFileMode mode = FileModes.Directory) =>
        Mount(new TmpfsMount(destination) { Size = size, Mode = mode });

    /// <summary><c>--proc DST</c>: a procfs of the sandbox's pid namespace.</summary>
    public SandboxSpecBuilder Proc(string destination) => Mount(new ProcMount(destination));

    /// <summary><c>--dev DST</c>: a minimal /dev.</summary>
    public SandboxSpecBuilder Dev(string destination) => Mount(new DevMount(destination));

    /// <summary><c>--mqueue DST</c>.</summary>
    public SandboxSpecBuilder Mqueue(string destination) => Mount(new MqueueMount(destination));

    /// <summary><c>--dir DST [--perms]</c>.</summary>
    public SandboxSpecBuilder Dir(string destination, UnixFileMode mode = FileModes.Directory) => Mount(new MakeDirectory(destination) { Mode = mode });

    /// <summary><c>--symlink TARGET DST</c>.</summary>
    public SandboxSpecBuilder Symlink(string target, string destination) => Mount(new MakeSymlink(target, destination));

    /// <summary><c>--write DATA DST [--perms]</c>: a file with these contents.</summary>
    public SandboxSpecBuilder Write(string destination, string data, UnixFileMode mode = FileModes.File) =>
        Mount(new WriteFile(destination) { Data = [.. Encoding.UTF8.GetBytes(data)], Mode = mode });

    /// <summary><c>--write</c> with bytes.</summary>
    public SandboxSpecBuilder Write(string destination, ReadOnlySpan<byte> data, UnixFileMode mode = FileModes.File) =>
        Mount(new WriteFile(destination) { Data = [.. data], Mode = mode });

    /// <summary><c>--file FD DST</c>: a file with the contents read from <paramref name="fd"/>.</summary>
    public SandboxSpecBuilder File(SafeHandle fd, string destination) => Mount(new WriteFile(destination) { Fd = fd });

    /// <summary><c>--chmod MODE PATH</c>.</summary>
    public SandboxSpecBuilder Chmod(UnixFileMode mode, string path) => Mount(new ChangeMode(path, mode));

    /// <summary><c>--remount-ro DST</c>.</summary>
    public SandboxSpecBuilder RemountReadOnly(string destination) => Mount(new RemountReadOnly(destination));

    /// <summary><c>--tmp-overlay DST</c> over <paramref name="lowers"/> (default: DST of the host): writes go to memory and vanish.</summary>
    public SandboxSpecBuilder TemporaryOverlay(string destination, params string[] lowers) =>
        Mount(new OverlayMount(destination, [.. (lowers.Length == 0 ? [destination] : lowers).Select(Path.GetFullPath)]));

    /// <summary><c>--ro-overlay DST</c>: a read-only union of <paramref name="lowers"/>.</summary>
    public SandboxSpecBuilder ReadOnlyOverlay(string destination, params string[] lowers) =>
        Mount(new OverlayMount(destination, [.. lowers.Select(Path.GetFullPath)]) { Kind = OverlayKind.ReadOnly });

    /// <summary>Any filesystem operation of the spec's own, in order with the others.</summary>
    public SandboxSpecBuilder Mount(MountOp op) => With(s => s with { Mounts = s.Mounts.Add(op) });

    /// <summary><c>--hide PATH</c>: an empty directory or file in PATH's place.</summary>
    public SandboxSpecBuilder Hide(string path) =>
        Path.Exists(path) ? With(s => s with { HiddenPaths = s.HiddenPaths.Add(Path.GetFullPath(path)) }) : Problem($"nothing to hide at {path}: no such file or directory");

    /// <summary>The home directory whose secrets are hidden (default: the caller's $HOME).</summary>
    public SandboxSpecBuilder SecretsUnder(string home) => With(s => s with { SecretsHome = home });

    /// <summary><c>--show-secrets</c>: do not hide ~/.ssh, ~/.gnupg and the other secrets of the home directory (hidden by default over the host's tree).</summary>
    public SandboxSpecBuilder ShowSecrets() => With(s => s with { ShowSecrets = true });

    // ---- process ----

    /// <summary><c>--chdir DIR</c>.</summary>
    public SandboxSpecBuilder Chdir(string directory) => With(s => s with { WorkingDirectory = directory });

    /// <summary><c>--setenv NAME VALUE</c>.</summary>
    public SandboxSpecBuilder SetEnv(string name, string value) =>
        With(s => s with { Environment = [.. s.Environment.Where(e => !IsEntryOf(e, name)), $"{name}={value}"] });

    /// <summary><c>--unsetenv NAME</c>.</summary>
    public SandboxSpecBuilder UnsetEnv(string name) => With(s => s with { Environment = [.. s.Environment.Where(e => !IsEntryOf(e, name))] });

    /// <summary><c>--clearenv</c>: start from an empty environment.</summary>
    public SandboxSpecBuilder ClearEnv() => With(s => s with { Environment = [] });

    private static bool IsEntryOf(string entry, string name) =>
        entry.Length > name.Length && entry[name.Length] == '=' && entry.StartsWith(name, StringComparison.Ordinal);

    /// <summary><c>--argv0 NAME</c>.</summary>
    public SandboxSpecBuilder Argv0(string name) => With(s => s with { Argv0 = name });

    /// <summary><c>--pass-fd N</c>: the caller's descriptor stays open inside under its own number.</summary>
    public SandboxSpecBuilder PassFd(SafeHandle fd) => With(s => s with { Fds = s.Fds.Add(new FdMapping(fd, Descriptors.Number(fd))) });

    /// <summary><c>--new-session</c> (the default) or <c>--no-new-session</c>.</summary>
    public SandboxSpecBuilder NewSession(bool newSession = true) => With(s => s with { NewSession = newSession });

    /// <summary><c>--as-pid-1</c>: the payload is pid 1, without husk-init.</summary>
    public SandboxSpecBuilder AsPid1() => With(s => s with { AsPid1 = true });

    /// <summary>Standard input: the caller's (default), a pipe (<see cref="SandboxProcess.StandardInput"/>) or /dev/null.</summary>
    public SandboxSpecBuilder StandardInput(StdioMode mode) => With(s => s with { StandardInput = mode });

    /// <summary>Standard output: the caller's (default), a pipe (counted against the output limit) or /dev/null.</summary>
    public SandboxSpecBuilder StandardOutput(StdioMode mode) => With(s => s with { StandardOutput = mode });

    /// <summary>Standard error: the caller's (default), a pipe (counted against the output limit) or /dev/null.</summary>
    public SandboxSpecBuilder StandardError(StdioMode mode) => With(s => s with { StandardError = mode });

    /// <summary>
    /// <c>--tty</c>: the payload gets a pseudo-terminal of the sandbox's own, <paramref name="rows"/> by
    /// <paramref name="columns"/>, as its stdin, stdout, stderr and controlling terminal; read and
    /// write it through <see cref="SandboxProcess.Terminal"/>.
    /// </summary>
    public SandboxSpecBuilder Tty(ushort rows = 24, ushort columns = 80) => With(s => s with { Terminal = new TerminalSize(rows, columns) });

    /// <summary>Standard output and error as pipes: <see cref="Sandbox.RunAsync"/> captures them, and husk counts them.</summary>
    public SandboxSpecBuilder PipeOutput() => StandardOutput(StdioMode.Pipe).StandardError(StdioMode.Pipe);

    /// <summary>
    /// A syscall policy callback: the named system calls stop and <paramref name="decide"/> allows,
    /// denies (errno) or kills (<see cref="Verdict.RestrictedFunction"/>) each.
    /// </summary>
    public SandboxSpecBuilder OnSyscall(IEnumerable<string> syscalls, Func<Policy.SyscallRequest, Policy.SyscallDecision> decide) =>
        With(s => s with { SyscallCallback = new Policy.SyscallCallback([.. syscalls], decide) });

    /// <summary>
    /// As <see cref="OnSyscall"/>, decided from ptrace stops (<see cref="Policy.SyscallCallback.Traced"/>):
    /// <paramref name="decide"/> also sees each call's return, with its value, and each signal
    /// delivered to the payload, with its si_code. Two stops a call: slower.
    /// </summary>
    public SandboxSpecBuilder OnSyscallTraced(IEnumerable<string> syscalls, Func<Policy.SyscallRequest, Policy.SyscallDecision> decide) =>
        With(s => s with { SyscallCallback = new Policy.SyscallCallback([.. syscalls], decide) { Traced = true } });

    /// <summary><c>--log-level</c>, <c>--log-format</c>: where the engine reports what it does for the sandbox.</summary>
    public SandboxSpecBuilder Log(Logging.ILogSink sink) => With(s => s with { Log = sink });

    // ---- tracing ----

    /// <summary>
    /// <c>--trace=SET</c>: trace the system calls in <paramref name="set"/>, written as strace's
    /// <c>-e trace=</c> (<c>"openat,%network"</c>, <c>"%file"</c>, <c>"!futex"</c>, <c>"all"</c>),
    /// and deliver them as <see cref="SandboxProcess.Events"/>. Only those calls stop the program.
    /// </summary>
    public SandboxSpecBuilder Trace(string set) =>
        Husk.Tracing.SyscallSet.TryParse(set, out var parsed, out string? problem)
            ? Trace(parsed)
            : Problem($"trace: {problem}");

    /// <summary>Trace the system calls in <paramref name="set"/> and deliver them as <see cref="SandboxProcess.Events"/>.</summary>
    public SandboxSpecBuilder Trace(Husk.Tracing.SyscallSet set) => WithTrace(t => t with { Syscalls = set, Events = true });

    /// <summary>Deliver (or not) the traced calls as <see cref="SandboxProcess.Events"/>.</summary>
    public SandboxSpecBuilder TraceEvents(bool on = true) => WithTrace(t => t with { Events = on });

    /// <summary><c>--trace</c>'s lines to the caller's descriptor <paramref name="output"/> (<c>Descriptors.Borrow(2)</c>: standard error).</summary>
    public SandboxSpecBuilder TraceOutput(SafeHandle output) => WithTrace(t => t with { Output = output, OutputFile = null });

    /// <summary><c>--trace-output FILE</c>: the lines to <paramref name="file"/>, created or truncated.</summary>
    public SandboxSpecBuilder TraceOutput(string file) => WithTrace(t => t with { OutputFile = Path.GetFullPath(file), Output = null });

    /// <summary><c>--trace-format</c>: the lines as strace's text, JSON or mbox's.</summary>
    public SandboxSpecBuilder TraceFormat(TraceFormat format) => WithTrace(t => t with { Format = format });

    /// <summary>
    /// <c>--count</c>: calls, errors and time per system call of the whole tree, in
    /// <see cref="SandboxResult.SyscallCounts"/> (of every call unless <see cref="Trace(string)"/> chose a set).
    /// </summary>
    public SandboxSpecBuilder CountSyscalls() => WithTrace(t => t with { Count = true });

    private SandboxSpecBuilder WithTrace(Func<TraceSpec, TraceSpec> change) => With(s => s with { Trace = change(s.Trace ?? new TraceSpec()) });

    // ---- policy ----

    /// <summary><c>--seccomp-profile NAME</c>: a built-in system call policy (default, judge).</summary>
    public SandboxSpecBuilder SeccompProfile(string name) =>
        Policy.SeccompProfiles.BuiltIn.TryGetValue(name, out var profile)
            ? SeccompProfile(profile)
            : Problem($"no built-in seccomp profile named {name}: use {string.Join(" or ", Policy.SeccompProfiles.BuiltIn.Keys)}, or pass a SeccompPolicy");

    /// <summary><c>--seccomp-profile FILE</c>'s equivalent: a system call policy of your own.</summary>
    public SandboxSpecBuilder SeccompProfile(Policy.SeccompPolicy policy) => With(s => s with { Seccomp = s.Seccomp with { Profile = policy } });

    /// <summary><c>--seccomp unconfined</c>: no filter but the <see cref="DenySyscall"/> rules.</summary>
    public SandboxSpecBuilder SeccompUnconfined() => With(s => s with { Seccomp = s.Seccomp with { Profile = null } });

    /// <summary><c>--allow-syscall NAME</c>: allow a system call whatever the profile says.</summary>
    public SandboxSpecBuilder AllowSyscall(string name) =>
        Policy.SyscallTable.IsKnown(name) ? With(s => s with { Seccomp = s.Seccomp with { Allow = s.Seccomp.Allow.Add(name) } }) : Problem($"unknown system call: {name}");

    /// <summary><c>--deny-syscall NAME[:ERRNO]</c>: fail a system call with <paramref name="errno"/> (EPERM unless given).</summary>
    public SandboxSpecBuilder DenySyscall(string name, int errno = 1)
    {
        if (errno is < 1 or > 4095)
            return Problem($"not an errno: {errno}");
        if (!Policy.SyscallTable.IsKnown(name))
            return Problem($"unknown system call: {name}");
        return With(s => s with { Seccomp = s.Seccomp with { Deny = s.Seccomp.Deny.Add(new SyscallDenial(name, errno)) } });
    }

    /// <summary><c>--cap-add CAP</c>: keep capability CAP inside (a name with or without CAP_, or ALL).</summary>
    public SandboxSpecBuilder CapAdd(string capability) =>
        CapabilityMask(capability) is { } mask ? KeepCapabilities(Kept() | mask) : Problem($"unknown capability: {capability}");

    /// <summary><c>--cap-drop CAP</c>: drop capability CAP again (or ALL); the payload starts with none.</summary>
    public SandboxSpecBuilder CapDrop(string capability) =>
        CapabilityMask(capability) is { } mask ? KeepCapabilities(Kept() & ~mask) : Problem($"unknown capability: {capability}");

    private ulong Kept() => _spec.Capabilities?.Bounding ?? 0;

    /// <summary>Exactly these capabilities (bit N is capability N) in every set, securebits locked; none: an empty set.</summary>
    internal SandboxSpecBuilder KeepCapabilities(ulong kept) => With(s => s with { Capabilities = Policy.PolicyDefaults.Capabilities(kept) });

    internal static ulong? CapabilityMask(string name)
    {
        if (name.Equals("ALL", StringComparison.OrdinalIgnoreCase))
            return Policy.CapabilityNames.All;
        return Policy.CapabilityNames.TryParse(name, out int cap) ? 1UL << cap : null;
    }

    /// <summary>
    /// <c>--landlock MODE</c>: off, on (the default: filesystem rules that mirror the mounts, and
    /// scoping) or strict (no TCP, nothing executes where the sandbox can write, every ABI feature).
    /// </summary>
    public SandboxSpecBuilder Landlock(string mode) => mode switch
    {
        "off" => Landlock(LandlockMode.Off),
        "on" => Landlock(LandlockMode.On),
        "strict" => Landlock(LandlockMode.Strict),
        _ => Problem($"Landlock mode {mode}: use off, on or strict"),
    };

    /// <summary><c>--landlock MODE</c>.</summary>
    public SandboxSpecBuilder Landlock(LandlockMode mode) => With(s => s with { Landlock = s.Landlock with { Mode = mode } });

    /// <summary><c>--tcp-bind PORT</c>: with Landlock, binding TCP port PORT is allowed; once given, other ports are refused.</summary>
    public SandboxSpecBuilder TcpBind(ushort port) => With(s => s with { Landlock = s.Landlock with { TcpBind = s.Landlock.TcpBind.Add(port) } });

    /// <summary><c>--tcp-connect PORT</c>: with Landlock, connecting to TCP port PORT is allowed; once given, other ports are refused.</summary>
    public SandboxSpecBuilder TcpConnect(ushort port) => With(s => s with { Landlock = s.Landlock with { TcpConnect = s.Landlock.TcpConnect.Add(port) } });

    // ---- limits ----
    /// <summary><c>--time-limit</c>: CPU time of the whole tree.</summary>
    public SandboxSpecBuilder TimeLimit(TimeSpan cpu) => Limits(l => l with { CpuTime = cpu });

    /// <summary><c>--time-limit</c> with units: "1.5s", "250ms".</summary>
    public SandboxSpecBuilder TimeLimit(string cpu) =>
        LimitUnits.TryParseDuration(cpu, out var d) ? TimeLimit(d) : Problem($"the time limit {cpu} is not a duration such as 1.5s or 250ms");

    /// <summary><c>--wall-time</c>: wall-clock time from the payload's start.</summary>
    public SandboxSpecBuilder WallTime(TimeSpan wall) => Limits(l => l with { WallTime = wall });

    /// <summary><c>--wall-time</c> with units.</summary>
    public SandboxSpecBuilder WallTime(string wall) =>
        LimitUnits.TryParseDuration(wall, out var d) ? WallTime(d) : Problem($"the wall time {wall} is not a duration such as 1.5s or 250ms");

    /// <summary><c>--memory</c>: memory of the whole tree in bytes.</summary>
    public SandboxSpecBuilder Memory(long bytes) => Limits(l => l with { MemoryBytes = bytes });

    /// <summary><c>--memory</c> with units: "512M", "1.5G".</summary>
    public SandboxSpecBuilder Memory(string size) =>
        LimitUnits.TryParseSize(size, out long n) ? Memory(n) : Problem($"the memory {size} is not a size such as 512M");

    /// <summary><c>--address-space</c>: RLIMIT_AS of every process.</summary>
    public SandboxSpecBuilder AddressSpace(long bytes) => Limits(l => l with { AddressSpaceBytes = bytes });

    /// <summary><c>--address-space</c> with units.</summary>
    public SandboxSpecBuilder AddressSpace(string size) =>
        LimitUnits.TryParseSize(size, out long n) ? AddressSpace(n) : Problem($"the address space {size} is not a size such as 512M");

    /// <summary><c>--pids</c>: processes and threads of the tree.</summary>
    public SandboxSpecBuilder Pids(int count) => Limits(l => l with { Processes = count });

    /// <summary><c>--output-limit</c>: any file's size, and standard output and error together when piped.</summary>
    public SandboxSpecBuilder OutputLimit(long bytes) => Limits(l => l with { OutputBytes = bytes });

    /// <summary><c>--output-limit</c> with units.</summary>
    public SandboxSpecBuilder OutputLimit(string size) =>
        LimitUnits.TryParseSize(size, out long n) ? OutputLimit(n) : Problem($"the output limit {size} is not a size such as 512M");

    /// <summary><c>--open-files</c>: RLIMIT_NOFILE.</summary>
    public SandboxSpecBuilder OpenFiles(int count) => Limits(l => l with { OpenFiles = count });

    /// <summary><c>--stack</c>: RLIMIT_STACK.</summary>
    public SandboxSpecBuilder Stack(long bytes) => Limits(l => l with { StackBytes = bytes });

    /// <summary><c>--stack</c> with units.</summary>
    public SandboxSpecBuilder Stack(string size) =>
        LimitUnits.TryParseSize(size, out long n) ? Stack(n) : Problem($"the stack {size} is not a size such as 512M");

    /// <summary><c>--cpus</c>: CPU bandwidth in CPUs (needs a cgroup).</summary>
    public SandboxSpecBuilder Cpus(double cpus) => Limits(l => l with { Cpus = cpus });

    /// <summary><c>--cgroup-parent</c>: create the sandbox's cgroup under this cgroup directory.</summary>
    public SandboxSpecBuilder CgroupParent(string path) => Limits(l => l with { CgroupParent = Path.GetFullPath(path) });

    /// <summary>Forces a limit backend instead of the best available one.</summary>
    public SandboxSpecBuilder Backend(LimitBackend backend) => Limits(l => l with { Backend = backend });

    /// <summary>Measure usage and give a verdict even without limits (<c>--report</c> does this).</summary>
    public SandboxSpecBuilder MeasureUsage() => Limits(l => l with { MeasureUsage = true });

    /// <summary>Replaces the limits at once.</summary>
    public SandboxSpecBuilder Limits(ResourceLimits limits) => With(s => s with { Limits = limits });

    private SandboxSpecBuilder Limits(Func<ResourceLimits, ResourceLimits> change) => With(s => s with { Limits = change(s.Limits) });

    /// <summary>The spec; throws <see cref="SandboxSpecException"/> listing every problem at once.</summary>
    public SandboxSpec Build()
    {
        var spec = _spec;
        var ns = spec.Namespaces;
        if (spec.UserNamespaceFd is not null)
            spec = spec with { Namespaces = ns & ~NamespaceKinds.User };
        if (ns.HasFlag(NamespaceKinds.Uts) && spec.Hostname is null)
            spec = spec with { Hostname = "husk" };
        var problems = _problems;
        if (!ns.HasFlag(NamespaceKinds.Mount))
        {
            if (spec.Mounts.Length > 0)
                problems = problems.Add("filesystem operations need a mount namespace: do not share it");
            spec = spec with { FileSystem = FileSystemSpec.Inherit, Mounts = [] };
        }
        var all = problems.Concat(spec.Validate()).ToImmutableArray();
        if (all.Length > 0)
            throw new SandboxSpecException(all);
        return spec;
    }
}
