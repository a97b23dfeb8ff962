using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Husk.Cli.Personalities.Mkosi;
using Husk.Launch;

using Husk.Policy;

namespace Husk.Cli.Personalities;

/// <summary>
/// The mkosi-sandbox personality: mkosi's sandbox.py (mkosi 27~devel, commit 70ce10d) on the
/// Husk engine. Same options, ordering model, privileges, exit codes; the payload runs as a
/// child of this process instead of replacing it, which is the one thing a .NET program cannot
/// copy (it cannot unshare a user namespace of its own).
/// </summary>
internal static class MkosiSandbox
{
    /// <summary>The version of sandbox.py this personality follows; --version prints it.</summary>
    public const string Version = "27~devel";

    private const string Name = "mkosi-sandbox";

    // Capabilities sandbox.py keeps in a user namespace it creates (every set, ambient too).
    private const int CAP_CHOWN = 0, CAP_NET_BIND_SERVICE = 10, CAP_NET_ADMIN = 12, CAP_SYS_ADMIN = 21;
    private static readonly int[] KeptCaps = [0, 1, 2, 3, 4, 6, 7, 8, 18, 19, 21, 24, 31];

    public static int Run(string argv0, string[] args)
    {
        // First, before this process opens anything of its own: the descriptors the caller left open.
        var inherited = InheritedDescriptors();
        string cwd = CurrentDirectory();
        MkosiArguments parsed;
        try
        {
            parsed = MkosiArguments.Parse(args, cwd, TerminalOf(2));
        }
        catch (MkosiUsageException e)
        {
            return Fail(e.Message);
        }
        if (parsed.Help)
        {
            StandardError.WriteLine(HelpText(!StandardError.IsTerminal(2)));
            return 0;
        }
        if (parsed.Version)
        {
            StandardError.WriteLine(Version);
            return 0;
        }

        SandboxSpec spec;
        try
        {
            spec = Build(parsed, inherited);
        }
        catch (MkosiUsageException e)
        {
            return Fail(e.Message);
        }

        if (parsed.Debug)
        {
            bool color = StandardError.IsTerminal(1) && StandardError.IsTerminal(2) && System.Environment.GetEnvironmentVariable("TERM") != "dumb";
            foreach (var op in FsOrdering.Optimize(parsed.Operations))
                StandardError.WriteLine(color ? $"\x1b[0;38;5;245m+ {op.Describe()}\x1b[0m" : $"+ {op.Describe()}");
        }

        SandboxExit exit;
        try
        {
            // --exec-fd: our copy closes once the command is executed, so the caller reading the
            // other end sees end of file then (as when sandbox.py's execvp closed it); setup failures
            // close it at our exit.
            exit = SandboxRunner.Run(spec, started: _ =>
            {
                foreach (int fd in parsed.ExecFds.Distinct())
                    Interop.Interop.Close(fd);
            });
        }
        catch (SandboxSpecException e)
        {
            foreach (string problem in e.Problems)
                StandardError.WriteLine($"{Name}: {problem}");
            return 1;
        }
        catch (SandboxSetupException e)
        {
            // As execvp fails in sandbox.py: a missing command is 127 and says nothing.
            if (e.IsExecFailure && e.Errno == Errno.ENOENT)
                return 127;
            return Fail(e.Message);
        }
        return ExitStatus.DieLike(exit);
    }

    /// <summary>Turns the parsed command line into a spec, deciding privileges as sandbox.py does.</summary>
    internal static SandboxSpec Build(MkosiArguments a, IReadOnlyList<int> inherited) =>
        Build(a, inherited, HostFacts.Current());

    internal static SandboxSpec Build(MkosiArguments a, IReadOnlyList<int> inherited, HostFacts host)
    {
        var ops = FsOrdering.Optimize(a.Operations);
        if (ops.OfType<BindOperation>().Any(b => b.Foreign))
            throw new MkosiUsageException("--bind-foreign and --ro-bind-foreign need systemd-nsresourced and systemd-mountfsd (systemd 260 or later), which Husk does not use");
        if (a.MapDelegate != 0)
            throw new MkosiUsageException("--map-delegate needs systemd-nsresourced (systemd 260 or later), which Husk does not use");

        bool sysAdmin = host.HasCapability(CAP_SYS_ADMIN), chown = host.HasCapability(CAP_CHOWN);
        // Already privileged (root, or inside another mkosi sandbox): no new user namespace.
        bool newUserNs = !(sysAdmin && (!a.MapForeign || chown) && (!a.BecomeRoot || (host.Uid == 0 && host.Gid == 0)));
        if (newUserNs && a.MapForeign)
        {
            throw new MkosiUsageException(chown
                ? "--map-foreign in a new user namespace is not supported yet"
                : "--map-foreign without CAP_CHOWN needs systemd-nsresourced (systemd 260 or later), which Husk does not use");
        }
        // sandbox.py's filter: chown() and friends (only where ids cannot be changed anyway) and sync()
        // and friends succeed without doing anything.
        var suppressed = new List<string>();
        if (a.SuppressChown && (newUserNs || host.SingleUserNamespace))
            suppressed.AddRange(SeccompProfiles.ChownCalls);
        if (a.SuppressSync)
            suppressed.AddRange(SeccompProfiles.SyncCalls);

        var ns = NamespaceKinds.Mount;
        if (newUserNs)
            ns |= NamespaceKinds.User;
        if (a.UnshareIpc)
            ns |= NamespaceKinds.Ipc;
        // Only where sandbox.py would hold CAP_NET_ADMIN: always in its own user namespace.
        if (a.UnshareNet && (newUserNs || host.HasCapability(CAP_NET_ADMIN)))
            ns |= NamespaceKinds.Net;

        CapabilitySet? caps = null;
        if (newUserNs)
        {
            ulong keep = 0;
            foreach (int cap in KeptCaps)
                keep |= 1UL << cap;
            if (a.UnshareNet)
                keep |= (1UL << CAP_NET_BIND_SERVICE) | (1UL << CAP_NET_ADMIN);
            caps = CapabilitySet.Exactly(keep);
        }

        var env = PayloadEnvironment(host.Environment, a.SetEnv, a.UnsetEnv);
        // sandbox.py made --exec-fd descriptors close-on-exec: neither passed nor packed.
        var passed = inherited.Where(fd => !a.ExecFds.Contains(fd)).ToList();
        var fds = ImmutableArray.CreateBuilder<FdMapping>();
        for (int i = 0; i < passed.Count; i++)
            fds.Add(new FdMapping(Descriptors.Borrow(passed[i]), a.PackFds ? 3 + i : passed[i]));
        bool listen = a.PackFds && passed.Count > 0;
        if (listen)
            Set(env, "LISTEN_FDS", passed.Count.ToString(CultureInfo.InvariantCulture));

        var context = new ExpandContext(host.Umask, null);
        return new SandboxSpec
        {
            Command = a.Command.IsDefaultOrEmpty ? ["bash"] : a.Command,
            SearchPath = true,
            // os.execvp: execv on each directory of PATH, no /bin/sh for a script without "#!".
            ScriptShell = false,
            Namespaces = ns,
            Identity = newUserNs
                ? new Identity { Uid = a.BecomeRoot ? 0 : null, Gid = a.BecomeRoot ? 0 : null, Mapping = IdMapping.Single }
                : new Identity(),
            FileSystem = FileSystemSpec.Bare,
            Mounts = [.. ops.SelectMany(op => op.Expand(context))],
            NestedUserNamespaces = NestedUserNamespaces.Allow,
            RootTmpfs = new RootTmpfs { Mode = (UnixFileMode)(0x3FF), Devices = true, AllowSetuid = true },
            RootPropagation = MountPropagation.Shared,
            BringUpLoopback = false,
            Environment = [.. env.Select(kv => kv.Key + "=" + kv.Value)],
            // No --chdir: the payload starts in the new root, as after pivot_root; PWD stays the caller's.
            WorkingDirectory = a.Chdir ?? "/",
            SetPwd = false,
            Fds = fds.ToImmutable(),
            InheritFds = false,
            Capabilities = caps,
            // libseccomp sets no_new_privs when it loads sandbox.py's filter (its NNP attribute defaults to on).
            NoNewPrivileges = suppressed.Count > 0,
            Seccomp = suppressed.Count > 0 ? SeccompSpec.Of(SeccompProfiles.SuccessfulNoOps(suppressed)) : SeccompSpec.None,
            Landlock = LandlockSpec.Off,
            PidVariable = listen ? "LISTEN_PID" : null,
            // Python ignores these and os.execvp keeps them ignored.
            IgnoredSignals = [Interop.Interop.Signals.ToPosixSignal(Interop.Interop.Signals.SIGPIPE), Interop.Interop.Signals.ToPosixSignal(Interop.Interop.Signals.SIGXFSZ)],
        };
    }

    /// <summary>The caller's environment with --setenv applied, then --unsetenv (Python's os.environ: ordered, first entry wins).</summary>
    internal static List<KeyValuePair<string, string>> PayloadEnvironment(
        IEnumerable<KeyValuePair<string, string>> host, IEnumerable<(string Name, string Value)> set, IEnumerable<string> unset)
    {
        var env = new List<KeyValuePair<string, string>>();
        foreach (var kv in host)
        {
            if (!env.Any(e => e.Key == kv.Key))
                env.Add(kv);
        }
        foreach (var (name, value) in set)
        {
            if (name.Length == 0 || name.Contains('='))
                throw new MkosiUsageException($"illegal environment variable name: '{name}'");
            Set(env, name, value);
        }
        foreach (string name in unset)
            env.RemoveAll(e => e.Key == name);
        return env;
    }

    private static void Set(List<KeyValuePair<string, string>> env, string name, string value)
    {
        int at = env.FindIndex(e => e.Key == name);
        if (at >= 0)
            env[at] = new(name, value);
        else
            env.Add(new(name, value));
    }

    private static int Fail(string message)
    {
        StandardError.WriteLine($"{Name}: {message}");
        return 1;
    }

    /// <summary>Descriptors 3 and up that the caller left open across exec (not close-on-exec), in order.</summary>
    internal static List<int> InheritedDescriptors()
    {
        var fds = new List<int>();
        try
        {
            foreach (string entry in Directory.GetFileSystemEntries("/proc/self/fd"))
            {
                if (int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out int fd) && fd >= 3)
                {
                    int flags = Interop.Interop.Fcntl(fd, Interop.Interop.F_GETFD, 0);
                    if (flags >= 0 && (flags & Interop.Interop.FD_CLOEXEC) == 0)
                        fds.Add(fd);
                }
            }
        }
        catch (IOException)
        {
        }
        fds.Sort();
        return fds;
    }

    private static string CurrentDirectory()
    {
        try
        {
            return Directory.GetCurrentDirectory();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "/";
        }
    }

    /// <summary>ttyname(fd): the terminal device's path, or null.</summary>
    private static string? TerminalOf(int fd)
    {
        if (Interop.Interop.IsATty(fd) != 1)
            return null;
        try
        {
            string? target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget;
            return target is not null && target.StartsWith("/dev/", StringComparison.Ordinal) ? target : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string HelpText(bool plain)
    {
        string bold = plain ? "" : "\x1b[0;1;39m", normal = plain ? "" : "\x1b[0m";
        var sb = new StringBuilder();
        sb.AppendLine("mkosi-sandbox [OPTIONS...] COMMAND [ARGUMENTS...]");
        sb.AppendLine();
        sb.AppendLine($"{bold}Run a command in a sandbox assembled from the options (Husk).{normal}");
        sb.AppendLine();
        (string, string)[] options =
        [
            ("-h --help", "Print this help and exit"),
            ("   --version", "Print the mkosi-sandbox version this follows and exit"),
            ("   --tmpfs DST", "Mount a fresh tmpfs on DST"),
            ("   --dev DST", "Mount a minimal /dev on DST"),
            ("   --proc DST", "Bind mount the host's /proc on DST (mkosi 25 and 26)"),
            ("   --dir DST", "Create the directory DST"),
            ("   --bind SRC DST", "Bind mount SRC (on the host, or in the sandbox with +SRC) on DST"),
            ("   --bind-try SRC DST", "The same, skipped when SRC does not exist"),
            ("   --ro-bind SRC DST", "Bind mount SRC on DST read-only"),
            ("   --ro-bind-try SRC DST", "The same, skipped when SRC does not exist"),
            ("   --bind-foreign SRC DST", "Not supported: needs systemd-nsresourced"),
            ("   --ro-bind-foreign SRC DST", "Not supported: needs systemd-nsresourced"),
            ("   --bind-nofollow SRC DST", "Bind mount SRC itself when it is a symlink"),
            ("   --ro-bind-nofollow SRC DST", "The same, read-only"),
            ("   --symlink SRC DST", "Make DST a symlink to SRC"),
            ("   --write DATA DST", "Write the text DATA to the file DST"),
            ("   --overlay-lowerdir DIR", "Add a lower layer to the next overlay"),
            ("   --overlay-upperdir DIR", "Upper layer of the next overlay (tmpfs: a throwaway one)"),
            ("   --overlay-workdir DIR", "Work directory of the next overlay"),
            ("   --overlay DST", "Mount the overlay described so far on DST"),
            ("   --unsetenv NAME", "Remove NAME from the environment"),
            ("   --setenv NAME VALUE", "Set NAME to VALUE in the environment"),
            ("   --chdir DIR", "Start the command in DIR"),
            ("   --same-dir", "Start the command in the current directory"),
            ("   --become-root", "Be root (uid and gid 0) in the sandbox"),
            ("   --map-foreign", "Map the foreign UID range (only where nothing needs mapping)"),
            ("   --map-delegate N", "Not supported: needs systemd-nsresourced"),
            ("   --suppress-chown", "Make chown() syscalls in the sandbox a noop"),
            ("   --suppress-sync", "Make sync() syscalls in the sandbox a noop"),
            ("   --unshare-net", "Use a network namespace of its own when possible"),
            ("   --unshare-ipc", "Use an IPC namespace of its own"),
            ("   --pack-fds", "Pass inherited descriptors as 3, 4, ... with LISTEN_FDS and LISTEN_PID"),
            ("   --exec-fd FD", "Close FD when the command is executed (mkosi 25)"),
            ("   --debug", "Print each filesystem operation, in the order it runs"),
        ];
        foreach (var (option, text) in options)
            sb.AppendLine($"  {option,-31} {text}");
        sb.AppendLine();
        sb.Append("See the mkosi-sandbox(1) man page of Husk for details.");
        return sb.ToString();
    }
}

/// <summary>What sandbox.py looks at in the calling process before deciding how to sandbox.</summary>
internal sealed record HostFacts
{
    public required uint Uid { get; init; }
    public required uint Gid { get; init; }
    public required ulong EffectiveCapabilities { get; init; }
    /// <summary>The caller is in a user namespace that maps one id only.</summary>
    public bool SingleUserNamespace { get; init; }
    public uint Umask { get; init; } = 0x12;
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    public bool HasCapability(int cap) => (EffectiveCapabilities & (1UL << cap)) != 0;

    public static HostFacts Current()
    {
        uint mask = Interop.Interop.Umask(0x12);
        Interop.Interop.Umask(mask);
        return new HostFacts
        {
            Uid = Interop.Interop.GetUid(),
            Gid = Interop.Interop.GetGid(),
            EffectiveCapabilities = ReadCapEff(),
            SingleUserNamespace = ReadSingleUserNamespace(),
            Umask = mask,
            Environment = ReadEnvironment(),
        };
    }

    private static ulong ReadCapEff() => Husk.Policy.ProcessCapabilities.Current().Effective;

    private static bool ReadSingleUserNamespace()
    {
        try
        {
            var lines = File.ReadAllLines("/proc/self/uid_map").Where(l => l.Trim().Length > 0).ToArray();
            return lines.Length == 1 && lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1] == "1";
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The environment this process started with, in its order (the runtime's view is unordered).</summary>
    private static List<KeyValuePair<string, string>> ReadEnvironment() =>
        [.. Husk.Launch.CallerEnvironment.AsStarted().Select(Husk.Launch.CallerEnvironment.Split)];
}
