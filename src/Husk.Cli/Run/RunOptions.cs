using System.Globalization;

namespace Husk.Cli.Run;

/// <summary>
/// One option of <c>husk run</c>. The table below drives the ordered parser, the help text,
/// shell completions and the documentation test, so all four always agree.
/// </summary>
internal sealed record RunOption(string Name, string Group, string[] Args, string Help, Action<RunArguments, string[]> Apply)
{
    public string[] Aliases { get; init; } = [];

    /// <summary>The one value is optional and given only as <c>--name=VALUE</c> (<c>--trace[=SET]</c>).</summary>
    public bool OptionalValue { get; init; }

    /// <summary>How the option is written in help: <c>--trace[=SET]</c>, <c>--bind SRC DST</c>.</summary>
    public string Usage => OptionalValue ? $"{Name}[={Args[0]}]" : Args.Length > 0 ? Name + " " + string.Join(' ', Args) : Name;
}

/// <summary>A user mistake on the command line: exit 2 with one line.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal static class RunOptions
{
    public const string Namespaces = "Namespaces";
    public const string Identity = "Identity";
    public const string FileSystem = "Filesystem mode";
    public const string FsOps = "Filesystem operations (applied in order)";
    public const string Process = "Process";
    public const string Network = "Network";
    public const string Limits = "Limits";
    public const string Policy = "Policy";
    public const string Output = "Status and synchronisation";
    public const string Tracing = "Tracing";

    public static readonly IReadOnlyList<RunOption> All = Build();

    private static readonly Dictionary<string, RunOption> ByName = All
        .SelectMany(o => o.Aliases.Prepend(o.Name).Select(n => (n, o)))
        .ToDictionary(p => p.n, p => p.o);

    public static RunOption? Find(string name) => ByName.GetValueOrDefault(name);

    private static List<RunOption> Build()
    {
        var list = new List<RunOption>();
        void Add(string name, string group, string[] args, string help, Action<RunArguments, string[]> apply, params string[] aliases) =>
            list.Add(new RunOption(name, group, args, help, apply) { Aliases = aliases });

        foreach (var (kind, word, what, note) in new[]
        {
            (NamespaceKinds.User, "user", "user namespace", ""),
            (NamespaceKinds.Mount, "mount", "mount namespace", " (the filesystem view)"),
            (NamespaceKinds.Pid, "pid", "pid namespace", " (husk-init is pid 1)"),
            (NamespaceKinds.Ipc, "ipc", "IPC namespace", ""),
            (NamespaceKinds.Uts, "uts", "UTS namespace", " (hostname)"),
            (NamespaceKinds.Net, "net", "network namespace", " with only loopback"),
            (NamespaceKinds.Cgroup, "cgroup", "cgroup namespace", ""),
            (NamespaceKinds.Time, "time", "time namespace", " (off by default)"),
        })
        {
            var k = kind;
            Add($"--unshare-{word}", Namespaces, [], $"New {what}{note}.", (s, _) => s.Set(b => b.Unshare(k)));
            Add($"--share-{word}", Namespaces, [], $"Share the caller's {what}.", (s, _) => s.Set(b => b.Share(k)));
        }
        Add("--unshare-all", Namespaces, [], "Every namespace but time (the default).", (s, _) => s.Set(b => b.Unshare(NamespaceKinds.AllButTime)));
        Add("--userns", Namespaces, ["FD"], "Join the user namespace FD instead of creating one.", (s, a) => { int fd = NamespaceFd(a[0], "--userns", "--share-user"); s.Set(b => b.UserNamespace(Descriptors.Borrow(fd)).Share(NamespaceKinds.User)); });
        Add("--pidns", Namespaces, ["FD"], "Join the pid namespace FD (with --unshare-pid, create one under it).", (s, a) => { int fd = NamespaceFd(a[0], "--pidns", "--share-pid"); s.Set(b => b.PidNamespace(Descriptors.Borrow(fd))); });
        Add("--disable-userns", Namespaces, [], "Make nested user namespaces impossible inside (the default).", (s, _) => s.Set(b => b.DisableUserNamespaces()));
        Add("--allow-userns", Namespaces, [], "Allow nested sandboxes: user namespaces; namespace flags, clone3 and mounting in the seccomp profile; Landlock off unless --landlock says otherwise (it forbids mounting).", (s, _) => s.Set(b => b.AllowUserNamespaces()));

        Add("--become-root", Identity, [], "Be uid and gid 0 inside (mapped to the caller).", (s, _) => s.Set(b => b.BecomeRoot()));
        Add("--uid", Identity, ["N"], "Uid inside.", (s, a) => { uint id = Id(a[0], "--uid"); s.Set(b => b.Uid(id)); });
        Add("--gid", Identity, ["N"], "Gid inside.", (s, a) => { uint id = Id(a[0], "--gid"); s.Set(b => b.Gid(id)); });
        Add("--map-subids", Identity, [], "Map a whole subordinate id range (/etc/subuid, newuidmap).", (s, _) => s.Set(b => b.MapSubordinateIds()));
        Add("--hostname", Identity, ["NAME"], "Hostname inside (default: husk).", (s, a) => s.Set(b => b.Hostname(a[0])));

        Add("--fs", FileSystem, ["MODE"], "overlay (default: the host, writes kept in a layer for review), ro (the host read-only), tmpfs (an empty, writable root in memory that vanishes with the sandbox; --storage caps it), host (no isolation) or a root directory (a word that is no mode names a directory; ./NAME for one named like a mode).",
            (s, a) => s.FsMode = a[0]);
        Add("--image", FileSystem, ["REF"], "An OCI image as the root instead of --fs: oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]. Its layers are unpacked once into a cache (husk image ls|rm|prune) and stacked; writes vanish with the sandbox (--readonly: none). Its config gives the command (without one here), environment (under --setenv/--env), working directory and user (under --chdir, --uid, --become-root).",
            (s, a) => s.Image = a[0]);
        Add("--entrypoint", FileSystem, ["PROGRAM"], "With --image: run PROGRAM instead of the image's entrypoint, before the command ('' for none).",
            (s, a) => s.Entrypoint = a[0]);
        Add("--readonly", FileSystem, [], "The host tree read-only: no layer (with --fs host too).", (s, _) => s.ReadOnly = true);
        Add("--root", FileSystem, ["DIR"], "Keep the layer in DIR (resumes an existing one); default: a new one under $XDG_RUNTIME_DIR or /var/tmp.", (s, a) => s.RootDir = a[0]);
        Add("--storage", FileSystem, ["SIZE"], "Cap what the sandbox writes at SIZE: the layer, /tmp, /var/tmp and /run share one tmpfs of that size (the layer is moved to the root at exit); beyond it the payload gets ENOSPC.",
            (s, a) => s.StorageSize = Size(a[0], "--storage"));
        Add("--keep", FileSystem, [], "Keep the layer for later without asking (husk changes|diff|commit|discard DIR).", (s, _) => s.AfterRun = LayerFate.Keep);
        Add("--commit", FileSystem, [], "Commit the changes to the host without asking (conflicts are left alone).", (s, _) => s.AfterRun = LayerFate.Commit);
        Add("--discard", FileSystem, [], "Throw the changes away without asking.", (s, _) => s.AfterRun = LayerFate.Discard);
        Add("--include", FileSystem, ["GLOB"], "Review and commit only changes matching GLOB (repeatable).", (s, a) => s.Include.Add(a[0]));
        Add("--exclude", FileSystem, ["GLOB"], "Leave out changes matching GLOB (repeatable).", (s, a) => s.Exclude.Add(a[0]));
        Add("--hash-originals", FileSystem, [], "Record content hashes of the working directory's files, so host edits during the session are conflicts.", (s, _) => s.HashOriginals = true);
        Add("--direct", FileSystem, ["PATH"], "Write PATH straight through to the host, outside review.", (s, a) => s.Direct.Add(Path.GetFullPath(a[0])));
        Add("--hide", FileSystem, ["PATH"], "Hide PATH (an empty directory or file in its place).", (s, a) => s.Hide.Add(Abs(a[0])));
        Add("--show-secrets", FileSystem, [], "Do not hide ~/.ssh, ~/.gnupg and the other secrets by default (nor, for root, the system's).", (s, _) => s.Set(b => b.ShowSecrets()));

        // Ordered filesystem operations.
        Add("--bind", FsOps, ["SRC", "DST"], "Bind-mount SRC on DST, read-write.", (s, a) => s.AddMount(new BindMount(a[0], Abs(a[1]))));
        Add("--bind-try", FsOps, ["SRC", "DST"], "As --bind; a missing SRC is skipped.", (s, a) => s.AddMount(new BindMount(a[0], Abs(a[1])) { Optional = true }));
        Add("--ro-bind", FsOps, ["SRC", "DST"], "Bind-mount SRC on DST, read-only.", (s, a) => s.AddMount(new BindMount(a[0], Abs(a[1])) { ReadOnly = true }));
        Add("--ro-bind-try", FsOps, ["SRC", "DST"], "As --ro-bind; a missing SRC is skipped.", (s, a) => s.AddMount(new BindMount(a[0], Abs(a[1])) { ReadOnly = true, Optional = true }));
        Add("--dev-bind", FsOps, ["SRC", "DST"], "Bind-mount SRC on DST with device access.", (s, a) => s.AddMount(new BindMount(a[0], Abs(a[1])) { Devices = true }));
        Add("--dev-bind-try", FsOps, ["SRC", "DST"], "As --dev-bind; a missing SRC is skipped.", (s, a) => s.AddMount(new BindMount(a[0], Abs(a[1])) { Devices = true, Optional = true }));
        Add("--mount-ro", FsOps, ["HOST:DEST"], "Shorthand for --ro-bind HOST DEST.", (s, a) => { var (h, d) = Pair(a[0], "--mount-ro"); s.AddMount(new BindMount(h, d) { ReadOnly = true }); });
        Add("--mount-rw", FsOps, ["HOST:DEST"], "Shorthand for --bind HOST DEST.", (s, a) => { var (h, d) = Pair(a[0], "--mount-rw"); s.AddMount(new BindMount(h, d)); });
        Add("--tmpfs", FsOps, ["DST"], "A fresh tmpfs on DST (--size and --perms before it apply).", (s, a) => s.AddMount(new TmpfsMount(Abs(a[0])) { Size = s.TakeSize(), Mode = s.TakePerms() ?? FileModes.Directory }));
        Add("--size", FsOps, ["SIZE"], "Size of the next --tmpfs.", (s, a) => s.PendingSize = Size(a[0], "--size"));
        Add("--perms", FsOps, ["OCTAL"], "Mode of the next --tmpfs, --dir or --write.", (s, a) => s.PendingPerms = Mode(a[0], "--perms"));
        Add("--proc", FsOps, ["DST"], "A procfs on DST.", (s, a) => s.AddMount(new ProcMount(Abs(a[0]))));
        Add("--dev", FsOps, ["DST"], "A minimal /dev on DST.", (s, a) => s.AddMount(new DevMount(Abs(a[0]))));
        Add("--mqueue", FsOps, ["DST"], "A POSIX message queue filesystem on DST.", (s, a) => s.AddMount(new MqueueMount(Abs(a[0]))));
        Add("--dir", FsOps, ["DST"], "Create a directory.", (s, a) => s.AddMount(new MakeDirectory(Abs(a[0])) { Mode = s.TakePerms() ?? FileModes.Directory }));
        Add("--symlink", FsOps, ["TARGET", "DST"], "Create a symlink.", (s, a) => s.AddMount(new MakeSymlink(a[0], Abs(a[1]))));
        Add("--write", FsOps, ["DATA", "DST"], "Create DST holding DATA.", (s, a) => s.AddMount(new WriteFile(Abs(a[1])) { Data = [.. System.Text.Encoding.UTF8.GetBytes(a[0])], Mode = s.TakePerms() ?? FileModes.File }));
        Add("--file", FsOps, ["FD", "DST"], "Create DST from the contents of FD.", (s, a) => s.AddMount(new WriteFile(Abs(a[1])) { Fd = Descriptors.Borrow(Fd(a[0], "--file")), Mode = s.TakePerms() ?? FileModes.File }));
        Add("--chmod", FsOps, ["OCTAL", "PATH"], "Change the mode of PATH.", (s, a) => s.AddMount(new ChangeMode(Abs(a[1]), Mode(a[0], "--chmod"))));
        Add("--remount-ro", FsOps, ["DST"], "Remount the mount point DST read-only.", (s, a) => s.AddMount(new RemountReadOnly(Abs(a[0]))));
        Add("--overlay-src", FsOps, ["DIR"], "A lower layer for the next overlay (the last given is on top).", (s, a) => s.OverlaySources.Add(a[0]));
        Add("--overlay", FsOps, ["RW", "WORK", "DST"], "Overlay with upper RW and work dir WORK on DST.", (s, a) => s.AddOverlay(Abs(a[2]), OverlayKind.Persistent, a[0], a[1], "--overlay"));
        Add("--tmp-overlay", FsOps, ["DST"], "Overlay whose writes vanish with the sandbox.", (s, a) => s.AddOverlay(Abs(a[0]), OverlayKind.Temporary, null, null, "--tmp-overlay"));
        Add("--ro-overlay", FsOps, ["DST"], "Read-only overlay of two or more sources.", (s, a) => s.AddOverlay(Abs(a[0]), OverlayKind.ReadOnly, null, null, "--ro-overlay"));

        Add("--chdir", Process, ["DIR"], "Working directory inside (default: the caller's, also below /tmp, /var/tmp and /run; else $HOME).", (s, a) => s.Set(b => b.Chdir(a[0])));
        Add("--setenv", Process, ["VAR", "VALUE"], "Set an environment variable.", (s, a) => s.Set(b => b.SetEnv(a[0], a[1])));
        Add("--env", Process, ["VAR=VALUE"], "Set an environment variable.", (s, a) =>
        {
            int eq = a[0].IndexOf('=');
            if (eq <= 0)
                throw new UsageException($"husk run: --env: expected VAR=VALUE: {a[0]}");
            s.Set(b => b.SetEnv(a[0][..eq], a[0][(eq + 1)..]));
        });
        Add("--unsetenv", Process, ["VAR"], "Unset an environment variable.", (s, a) => s.Set(b => b.UnsetEnv(a[0])));
        Add("--clearenv", Process, [], "Start from an empty environment.", (s, _) => s.Set(b => b.ClearEnv()));
        Add("--argv0", Process, ["VALUE"], "argv[0] of the command.", (s, a) => s.Set(b => b.Argv0(a[0])));
        Add("--pass-fd", Process, ["N"], "Give the payload descriptor N (only 0, 1 and 2 pass otherwise).", (s, a) => { int fd = Fd(a[0], "--pass-fd"); s.Set(b => b.PassFd(Descriptors.Borrow(fd))); });
        Add("--new-session", Process, [], "Start a new session (the default without --tty, unless husk runs in a terminal's foreground: then a job of its own there).", (s, _) => s.NewSession = true);
        Add("--no-new-session", Process, [], "Stay in the caller's session (in a terminal: a job of its own in its foreground); unsafe unless seccomp refuses TIOCSTI.", (s, _) => s.NewSession = false);
        Add("--as-pid-1", Process, [], "The command is pid 1 (no husk-init).", (s, _) => s.Set(b => b.AsPid1()));
        Add("--die-with-parent", Process, [], "Accepted for compatibility: a sandbox never outlives husk.", (_, _) => { });
        Add("--tty", Process, [], "Give the payload its own pseudo-terminal.", (s, _) => s.Tty = true);
        Add("--name", Process, ["NAME"], "Name for husk ps, husk enter and husk kill.", (s, a) => s.Name = a[0]);

        Add("--net", Network, ["MODE"], "none (default: loopback only), host (the host's network: no isolation), nat (rootless user-mode NAT through pasta or slirp4netns: the outside is reachable, the host's loopback and own addresses are not) or bridge (as root: a veth into the husk0 bridge with NAT through nftables).", (s, a) =>
        {
            if (a[0] is not ("none" or "host" or "nat" or "bridge"))
                throw new UsageException($"husk run: --net: unknown mode {a[0]}: use none, host, nat or bridge");
            s.Set(b => b.Network(a[0]));
        });
        Add("--allow-host", Network, ["RULE"], "Turn on the egress allowlist and allow RULE: a name (example.com), a wildcard (*.example.com: subdomains only), an IPv4 or IPv6 address or CIDR block, each with an optional :PORT or :LOW-HIGH ([2001:db8::1]:443), then an optional /tcp or /udp (both without one: 10.0.0.5:5000/udp). What no rule allows is refused; private, link-local and loopback addresses need a rule of their own, and an address rule in 127.0.0.0/8 or ::1 means the host's loopback (repeatable).", (s, a) =>
        {
            if (!EgressRule.TryParse(a[0], out var rule, out string? error))
                throw new UsageException($"husk run: --allow-host {a[0]}: {error}");
            s.Set(b => b.AllowHost(rule!));
        });
        Add("--allow-hosts", Network, ["FILE"], "Allowlist rules from FILE, one a line, # comments (mini-tapbox's -F files too).", (s, a) =>
        {
            try
            {
                var rules = Husk.Network.EgressRuleFile.Load(a[0]);
                s.Set(b => rules.Aggregate(b.FilterEgress(), (x, r) => x.AllowHost(r)));
            }
            catch (Husk.Network.EgressRuleException e)
            {
                throw new UsageException($"husk run: --allow-hosts {e.Message}");
            }
        });
        Add("--publish", Network, ["HOSTPORT:SANDBOXPORT[/udp]"], "Forward a port of the host into the sandbox (nat, bridge; repeatable).", (s, a) =>
        {
            try
            {
                var p = PortPublication.Parse(a[0]);
                s.Set(b => b.Publish(p));
            }
            catch (FormatException e)
            {
                throw new UsageException($"husk run: --publish {a[0]}: {e.Message}");
            }
        });
        Add("--dns", Network, ["ADDR"], "A nameserver of the sandbox's own resolv.conf (repeatable; nat, bridge and the allowlist give one that works in their namespace by default).", (s, a) =>
        {
            if (!Husk.Network.IpNetwork.TryParseAddress(a[0], out var ip))
                throw new UsageException($"husk run: --dns {a[0]}: not an IP address");
            s.Set(b => b.Dns(ip));
        });
        Add("--dns-upstream", Network, ["ADDR[:PORT]"], "The resolver the supervisor asks for the names it lets through (default: the host's).", (s, a) =>
        {
            if (!Husk.Network.Endpoints.TryParse(a[0], 53, out _, out string? error))
                throw new UsageException($"husk run: --dns-upstream {a[0]}: {error}");
            s.Set(b => b.DnsUpstream(a[0]));
        });
        Add("--allow-host-loopback", Network, [], "With nat: the host's loopback is reachable at the gateway's address (pasta) or 10.0.2.2 (slirp4netns).", (s, _) => s.Set(b => b.AllowHostLoopback()));
        Add("--bridge-subnet", Network, ["CIDR"], "The husk0 bridge's IPv4 subnet (default 10.77.0.0/16).", (s, a) =>
        {
            if (!System.Net.IPNetwork.TryParse(a[0], out _))
                throw new UsageException($"husk run: --bridge-subnet {a[0]}: not a CIDR block such as 10.77.0.0/16");
            s.Set(b => b.BridgeSubnet(a[0]));
        });
        Add("--net-log", Network, ["FILE"], "Write every DNS question and connection (allowed or refused, bytes each way) to FILE as JSON lines.", (s, a) => s.Set(b => b.NetworkLog(a[0])));
        Add("--net-summary", Network, [], "At exit, list on stderr what the sandbox tried to reach (names, addresses, ports, verdicts, bytes).", (s, _) => s.NetSummary = true);

        Add("--time-limit", Limits, ["DURATION"], "CPU time of the whole tree; over it the tree is killed (TimeLimit).", (s, a) => { var d = Duration(a[0], "--time-limit"); s.Set(b => b.TimeLimit(d)); });
        Add("--wall-time", Limits, ["DURATION"], "Wall-clock time; over it the tree is killed (WallTimeLimit).", (s, a) => { var d = Duration(a[0], "--wall-time"); s.Set(b => b.WallTime(d)); });
        Add("--memory", Limits, ["SIZE"], "Memory of the tree (cgroup charge, else resident memory); over it the tree is killed (MemoryLimit).", (s, a) => { long n = Size(a[0], "--memory"); s.Set(b => b.Memory(n)); });
        Add("--address-space", Limits, ["SIZE"], "Address space of each process (RLIMIT_AS): allocations beyond it fail.", (s, a) => { long n = Size(a[0], "--address-space"); s.Set(b => b.AddressSpace(n)); });
        Add("--pids", Limits, ["N"], $"Processes and threads of the tree (default with any limit: {ResourceLimits.DefaultProcesses}).", (s, a) => { int n = Count(a[0], "--pids"); s.Set(b => b.Pids(n)); });
        Add("--output-limit", Limits, ["SIZE"], "Size of any file written, and stdout and stderr together (then piped through husk); over it: OutputLimit.", (s, a) => { long n = Size(a[0], "--output-limit"); s.Set(b => b.OutputLimit(n)); });
        Add("--open-files", Limits, ["N"], "Open descriptors per process (RLIMIT_NOFILE).", (s, a) => { int n = Count(a[0], "--open-files"); s.Set(b => b.OpenFiles(n)); });
        Add("--stack", Limits, ["SIZE"], "Stack size per process (RLIMIT_STACK).", (s, a) => { long n = Size(a[0], "--stack"); s.Set(b => b.Stack(n)); });
        Add("--cpus", Limits, ["N"], "CPU bandwidth in CPUs, such as 0.5 (needs a cgroup).", (s, a) => { double n = Cpus(a[0]); s.Set(b => b.Cpus(n)); });
        Add("--cgroup-parent", Limits, ["PATH"], "Create the sandbox's cgroup under the cgroup directory PATH.", (s, a) => s.Set(b => b.CgroupParent(a[0])));

        Add("--report", Output, ["FILE"], "Write the verdict, usage and limits to FILE as one JSON object.", (s, a) => s.ReportFile = a[0]);
        Add("--report-fd", Output, ["FD"], "Write the JSON report to FD.", (s, a) => s.ReportFd = Fd(a[0], "--report-fd"));
        Add("--meta", Output, ["FILE"], "Write isolate's meta file (time, time-wall, max-rss, exitcode, status, ...) to FILE.", (s, a) => s.MetaFile = a[0]);
        Add("--profile", Policy, ["NAME|FILE"], "Apply a profile's options here (husk profile list shows the built-in ones).", (s, a) => Profiles.ProfileLoader.Apply(s, a[0]));
        Add("--seccomp", Policy, ["MODE"], "default (the seccomp profile applies) or unconfined (no filter but --deny-syscall).", (s, a) => s.SeccompUnconfined = a[0] switch
        {
            "unconfined" => true,
            "default" => false,
            _ => throw new UsageException($"husk run: --seccomp: unknown mode {a[0]}: use default or unconfined"),
        });
        Add("--seccomp-profile", Policy, ["NAME|FILE"], "The system call policy: default, judge, or a TOML file.", (s, a) => s.SetSeccompProfile(a[0]));
        Add("--allow-syscall", Policy, ["NAME"], "Allow a system call whatever the profile says.", (s, a) => { string name = RunArguments.SyscallName(a[0], "--allow-syscall"); s.Set(b => b.AllowSyscall(name)); });
        Add("--deny-syscall", Policy, ["NAME[:ERRNO]"], "Fail a system call with ERRNO (a name or number; default EPERM).", (s, a) => { var (name, errno) = RunArguments.DenyRule(a[0]); s.Set(b => b.DenySyscall(name, errno)); });
        Add("--cap-add", Policy, ["CAP"], "Keep capability CAP inside (a name with or without CAP_, or ALL).", (s, a) =>
        {
            string cap = RunArguments.Capability(a[0], "--cap-add");
            s.Set(b => b.CapAdd(cap));
            s.CapAddAll |= cap.Equals("ALL", StringComparison.OrdinalIgnoreCase);
        });
        Add("--cap-drop", Policy, ["CAP"], "Drop capability CAP again (or ALL); the payload starts with none.", (s, a) => { string cap = RunArguments.Capability(a[0], "--cap-drop"); s.Set(b => b.CapDrop(cap)); });
        Add("--landlock", Policy, ["MODE"], "off, on (default: filesystem rules that mirror the mounts, scoping) or strict (no TCP, no exec where writable, every ABI feature).", (s, a) => s.Spec = a[0] switch
        {
            "off" or "on" or "strict" => s.Spec.Landlock(a[0]),
            _ => throw new UsageException($"husk run: --landlock: unknown mode {a[0]}: use off, on or strict"),
        });
        Add("--tcp-bind", Policy, ["PORT"], "With Landlock: allow binding TCP port PORT; once given, other ports are refused.", (s, a) => { ushort port = Port(a[0], "--tcp-bind"); s.Set(b => b.TcpBind(port)); });
        Add("--tcp-connect", Policy, ["PORT"], "With Landlock: allow connecting to TCP port PORT; once given, other ports are refused.", (s, a) => { ushort port = Port(a[0], "--tcp-connect"); s.Set(b => b.TcpConnect(port)); });

        list.Add(new RunOption("--trace", Tracing, ["SET"], "Trace system calls of the whole tree to stderr, strace's way (pid, call, decoded arguments, return value or error, duration; signals and exits). SET is strace's -e trace=: names and classes such as openat,%network, %file, %process, %signal, %memory, !name; default: all. Only calls in SET stop the program.",
            (s, a) => s.TraceSet = RunArguments.SyscallSet(a.Length == 0 ? "all" : a[0], "--trace")) { OptionalValue = true });
        Add("--trace-output", Tracing, ["FILE"], "Write the trace to FILE instead of stderr.", (s, a) => s.TraceOutput = a[0]);
        Add("--trace-format", Tracing, ["FORMAT"], "text (strace's lines, the default) or json (one object per line).", (s, a) => s.TraceFormat = a[0] switch
        {
            "text" => TraceFormat.Text,
            "json" => TraceFormat.Json,
            _ => throw new UsageException($"husk run: --trace-format: unknown format {a[0]}: use text or json"),
        });
        Add("--count", Tracing, [], "At exit, print strace -c's table of time, calls and errors per system call of the whole tree on stderr (of SET with --trace=SET); also in the --report.", (s, _) => s.CountSyscalls = true);
        Add("--count-format", Tracing, ["FORMAT"], "text (strace -c's table, the default) or json.", (s, a) => s.CountFormat = a[0] switch
        {
            "text" => TraceFormat.Text,
            "json" => TraceFormat.Json,
            _ => throw new UsageException($"husk run: --count-format: unknown format {a[0]}: use text or json"),
        });

        Add("--log-level", Output, ["LEVEL"], "Log what the engine does on stderr: error (the default), warn (fallbacks, refusals), info (the backends chosen, what is hidden, the network, the exit) or debug (every setup step).", (s, a) =>
            s.LogLevel = LogSink.ParseLevel(a[0]) ?? throw new UsageException($"husk run: --log-level: unknown level {a[0]}: use error, warn, info or debug"));
        Add("--log-format", Output, ["FORMAT"], "text (the default: husk: LEVEL: MESSAGE key=value) or json (one object per line: time, level, sandbox, msg and the fields).", (s, a) => s.LogJson = a[0] switch
        {
            "text" => false,
            "json" => true,
            _ => throw new UsageException($"husk run: --log-format: unknown format {a[0]}: use text or json"),
        });
        Add("--info-fd", Output, ["FD"], "Write the sandbox pid and namespace ids to FD as JSON.", (s, a) => s.InfoFd = Fd(a[0], "--info-fd"));
        Add("--json-status-fd", Output, ["FD"], "Write JSON status lines (child-pid, exit-code) to FD.", (s, a) => s.JsonStatusFd = Fd(a[0], "--json-status-fd"));
        Add("--sync-fd", Output, ["FD"], "Keep FD open while the sandbox runs.", (s, a) => s.SyncFd = Fd(a[0], "--sync-fd"));
        Add("--block-fd", Output, ["FD"], "Wait until FD is readable before running the command.", (s, a) => s.BlockFd = Fd(a[0], "--block-fd"));
        Add("--userns-block-fd", Output, ["FD"], "Let another process map ids; wait on FD (needs --info-fd).", (s, a) => s.UsernsBlockFd = Fd(a[0], "--userns-block-fd"));
        Add("--lock-file", Output, ["PATH"], "Hold a lock on PATH (inside) while the sandbox runs.", (s, a) => s.LockFiles.Add(Abs(a[0])));
        return list;
    }

    private static string Abs(string path)
    {
        if (!path.StartsWith('/'))
            throw new UsageException($"husk run: destination must be an absolute path: {path}");
        return path;
    }

    private static TimeSpan Duration(string value, string option) =>
        Husk.Resources.LimitUnits.TryParseDuration(value, out var d) ? d : throw new UsageException($"husk run: {option}: {value}: expected a duration such as 1.5s or 250ms");

    /// <summary>Every size option reads its value here, as LimitUnits does for the library: 4096, 512M, 1.5G, 2GB, 2GiB.</summary>
    internal static long Size(string value, string option) =>
        Husk.Resources.LimitUnits.TryParseSize(value, out long n) ? n : throw new UsageException($"husk run: {option}: {value}: expected a size such as 512M, 1.5G or 2GB");

    private static int Count(string value, string option) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new UsageException($"husk run: {option}: {value}: expected a positive whole number");

    private static double Cpus(string value) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double n) && n > 0 && n <= 4096
            ? n
            : throw new UsageException($"husk run: --cpus: {value}: expected a number of CPUs such as 0.5");

    private static (string, string) Pair(string value, string option)
    {
        int colon = value.IndexOf(':');
        if (colon <= 0 || colon == value.Length - 1)
            throw new UsageException($"husk run: {option}: expected HOST:DEST: {value}");
        return (value[..colon], Abs(value[(colon + 1)..]));
    }

    private static ushort Port(string value, string option)
    {
        if (!ushort.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
            throw new UsageException($"husk run: {option}: not a port: {value}");
        return port;
    }

    /// <summary>A namespace's descriptor; "host" (microbox's spelling) points at the option that shares the caller's.</summary>
    private static int NamespaceFd(string value, string option, string share) =>
        value == "host"
            ? throw new UsageException($"husk run: {option} host: {option} takes the descriptor of a namespace to join; {share} keeps the caller's")
            : Fd(value, option);

    internal static int Fd(string value, string option)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int fd))
            throw new UsageException($"husk run: {option}: not a file descriptor: {value}");
        return fd;
    }

    private static uint Id(string value, string option)
    {
        if (!uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out uint id) || id == uint.MaxValue)
            throw new UsageException($"husk run: {option}: not an id: {value}");
        return id;
    }

    internal static UnixFileMode Mode(string value, string option)
    {
        try
        {
            int mode = Convert.ToInt32(value, 8);
            if (mode is < 0 or > 0xFFF)
                throw new FormatException();
            return (UnixFileMode)mode;
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            throw new UsageException($"husk run: {option}: not an octal mode: {value}");
        }
    }
}
