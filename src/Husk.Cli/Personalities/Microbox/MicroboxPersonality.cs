using System.Text;
using Husk.Launch;
using Husk.Logging;
using Husk.Policy;

namespace Husk.Cli.Personalities.Microbox;

/// <summary>
/// The microbox personality: HQarroum/microbox at 88930be on the Husk engine. Its flags and
/// defaults (an empty tmpfs root of 512MB with /dev, /proc and /etc, no network, one CPU and 1GB,
/// its deny-list seccomp profile and capability set, a random hostname, its environment only), its
/// log lines (Go's slog, on standard output), messages and exit statuses. Unlike microbox it needs no
/// root: the sandbox's root is the caller mapped to 0 in a user namespace of its own (as root, a
/// subordinate range, never the host's uid 0); --userns host and --net bridge still need root.
/// </summary>
internal static class MicroboxPersonality
{
    public static int Run(string argv0, string[] args)
    {
        // urfave/cli computes the --hostname default (shown by --help) before parsing.
        string hostname = RandomHostname.Next();
        MicroboxArguments a;
        try
        {
            a = MicroboxArguments.Parse(args);
        }
        catch (MicroboxUsage e)
        {
            if (e.IncorrectUsage)
            {
                StandardError.Write($"Incorrect Usage: {e.Message}\n\n");
                Out(MicroboxHelp.Text(hostname));
            }
            return ParsingError(hostname, e.Message);
        }
        if (a.Help)
        {
            Out(MicroboxHelp.Text(hostname));
            return 0;
        }
        if (a.Version)
        {
            Out($"microbox version {MicroboxDefaults.Version}\n");
            return 0;
        }
        if (a.Command.Count == 0)
            return ParsingError(hostname, "missing command; usage: microbox [options] -- command [args...]");
        if (!a.HostnameGiven)
            a.Hostname = hostname;

        var log = new LogSink(a.LogLevel, a.LogJson, Guid.NewGuid().ToString(), fd: 1, LogStyle.Slog, "microbox");
        log.Write(LogLevel.Info, "Options", Options(a));
        if (Refusal(a) is { } refusal)
            return Fail(log, "error while creating sandbox", refusal);
        SandboxSpec spec;
        try
        {
            spec = ToSpec(a, log);
        }
        catch (SandboxSpecException e)
        {
            return Fail(log, "error while creating sandbox", e.Problems[0]);
        }
        try
        {
            return SandboxRunner.Run(spec).ShellStatus;
        }
        catch (SandboxSetupException e) when (e.IsExecFailure)
        {
            // microbox's child logs the failed execve and exits 127, whatever the errno.
            return Fail(log, "failed to execute process", GoError(e.Errno), 127);
        }
        catch (SandboxSetupException e)
        {
            return Fail(log, "error while creating sandbox", e.Message);
        }
    }

    private static int ParsingError(string hostname, string message)
    {
        Out(MicroboxHelp.Text(hostname));
        StandardError.WriteLine($"parsing error: {message}");
        return 1;
    }

    private static int Fail(LogSink log, string message, string err, int status = 1)
    {
        log.Write(LogLevel.Error, message, new LogField("err", err));
        return status;
    }

    private static void Out(string text)
    {
        try
        {
            Interop.Interop.WriteAll(1, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException)
        {
        }
    }

    /// <summary>Go's words for an errno: the C library's, in lower case ("no such file or directory").</summary>
    private static string GoError(Errno errno)
    {
        string text = SyscallException.Describe(errno);
        return text.Length > 0 ? char.ToLowerInvariant(text[0]) + text[1..] : text;
    }

    /// <summary>What this build cannot do of what was asked, as one line; null when it can.</summary>
    internal static string? Refusal(MicroboxArguments a)
    {
        bool root = Interop.Interop.GetEuid() == 0;
        if (!root && (a.HostUserNamespace || a.Net == "bridge"))
            return "microbox must be run as root or with sudo";
        if (a.Net == "bridge")
            return "--net bridge is not available in this build yet: it comes with Husk's network modes (use --net none or host)";
        if (a.Dns.Count > 0)
            return "--dns is not available in this build yet: it comes with Husk's network modes (the default resolv.conf names 8.8.8.8 and 8.8.4.4)";
        return null;
    }

    /// <summary>The log's "Options" line: what microbox dumps of its options, as fields.</summary>
    private static LogField[] Options(MicroboxArguments a) =>
    [
        new("fs", a.Fs == MicroboxFs.Directory ? a.FsPath : a.Fs.ToString().ToLowerInvariant()),
        new("net", a.Net),
        new("readonly", a.ReadOnly),
        new("hostname", a.Hostname),
        new("cpus", a.Cpus.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("memory", a.Memory),
        new("storage", a.Storage),
        new("userns", a.HostUserNamespace ? "host" : "isolated"),
        new("command", string.Join(' ', a.Command)),
    ];

    /// <summary>microbox's environment: its defaults (PATH, HOME, TERM, LANG first), then --env's other names sorted.</summary>
    internal static List<string> Environment(MicroboxArguments a)
    {
        var merged = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in MicroboxDefaults.Environment)
            merged[name] = value;
        foreach (var (name, value) in a.Env)
            merged[name] = value;
        var first = MicroboxDefaults.Environment.Select(e => e.Name).ToList();
        return
        [
            .. first.Select(n => $"{n}={merged[n]}"),
            .. merged.Keys.Where(k => !first.Contains(k)).Order(StringComparer.Ordinal).Select(k => $"{k}={merged[k]}"),
        ];
    }

    /// <summary>The deny list: microbox's, plus --deny-syscall, less --allow-syscall (names unknown here are left out, as libseccomp's resolver skips them).</summary>
    internal static List<string> DeniedSyscalls(MicroboxArguments a) =>
        [.. MicroboxDefaults.DeniedSyscalls.Concat(a.DenySyscalls).Except(a.AllowSyscalls).Distinct().Order(StringComparer.Ordinal)];

    /// <summary>microbox's capability set with --cap-drop applied first, then --cap-add.</summary>
    internal static ulong Capabilities(MicroboxArguments a)
    {
        ulong set = 0;
        foreach (string name in MicroboxDefaults.Capabilities)
        {
            if (CapabilityNames.TryParse(name, out int cap))
                set |= 1UL << cap;
        }
        foreach (int cap in a.CapDrop)
            set &= ~(1UL << cap);
        foreach (int cap in a.CapAdd)
            set |= 1UL << cap;
        return set;
    }

    /// <summary>The sandbox microbox's options describe.</summary>
    internal static SandboxSpec ToSpec(MicroboxArguments a, Logging.ILogSink? log = null)
    {
        var ns = NamespaceKinds.Mount | NamespaceKinds.Pid | NamespaceKinds.Uts | NamespaceKinds.Ipc | NamespaceKinds.Cgroup | NamespaceKinds.Time;
        if (!a.HostUserNamespace)
            ns |= NamespaceKinds.User;
        if (a.Net != "host")
            ns |= NamespaceKinds.Net;
        long? storage = a.Storage > 0 ? a.Storage : null;
        var mounts = new List<MountOp>();
        FileSystemSpec fs;
        if (a.Fs == MicroboxFs.Host)
        {
            fs = FileSystemSpec.Host(a.ReadOnly);
        }
        else
        {
            fs = a.Fs == MicroboxFs.Tmpfs ? FileSystemSpec.Empty(size: storage) : new DirectoryFileSystem(a.FsPath!, ReadOnly: false) { Size = storage };
            // microbox's /dev has a message queue filesystem and a /dev/core link; its /etc its own resolver, the host's hosts and the hostname.
            mounts.Add(new MqueueMount("/dev/mqueue"));
            mounts.Add(new MakeSymlink("/proc/kcore", "/dev/core"));
            string resolv = string.Concat(MicroboxDefaults.Nameservers.Select(n => $"nameserver {n}\n"));
            mounts.Add(new WriteFile("/etc/resolv.conf") { Data = [.. Encoding.UTF8.GetBytes(resolv)], Mode = FileModes.File });
            mounts.Add(new BindMount("/etc/hosts", "/etc/hosts") { ReadOnly = true, Optional = true });
            if (a.Hostname.Length > 0)
                mounts.Add(new WriteFile("/etc/hostname") { Data = [.. Encoding.UTF8.GetBytes(a.Hostname + "\n")], Mode = FileModes.File });
            // Read-only mounts first, then read-write ones, each in the order given (nosuid, nodev).
            mounts.AddRange(a.MountRo.Select(m => new BindMount(Path.GetFullPath(m.Host), m.Dest) { ReadOnly = true }));
            mounts.AddRange(a.MountRw.Select(m => new BindMount(Path.GetFullPath(m.Host), m.Dest)));
            if (a.ReadOnly)
                mounts.Add(new RemountReadOnly("/"));
        }
        ulong caps = Capabilities(a);
        return new SandboxSpec
        {
            Command = [.. a.Command],
            // Go's unix.Exec: execve of the path as given, no PATH search, no shell for a script without #!.
            SearchPath = false,
            ScriptShell = false,
            Namespaces = ns,
            // The payload is the sandbox's pid 1, as under microbox's clone3.
            AsPid1 = true,
            Identity = a.HostUserNamespace ? new Identity() : Identity.Root,
            Hostname = a.Hostname.Length > 0 ? a.Hostname : null,
            FileSystem = fs,
            Mounts = [.. mounts],
            ShowSecrets = true,
            // microbox never brings up the loopback of the network namespace it makes.
            BringUpLoopback = false,
            Environment = [.. Environment(a)],
            WorkingDirectory = "/",
            SetPwd = false,
            NewSession = false,
            Capabilities = new CapabilitySet { Bounding = caps, Permitted = caps, Effective = caps, Inheritable = caps },
            NoNewPrivileges = true,
            Landlock = LandlockSpec.Off,
            // Its seccomp profile refuses unshare and setns; with them allowed, nested namespaces work as under microbox.
            NestedUserNamespaces = NestedUserNamespaces.ProfileOnly,
            Seccomp = SeccompSpec.Of(SeccompProfiles.DenyList(DeniedSyscalls(a), Errno.ENOSYS)),
            Limits = new ResourceLimits
            {
                MemoryBytes = a.Memory > 0 ? a.Memory : null,
                Cpus = a.Cpus > 0 ? a.Cpus : null,
                CpusIfAvailable = true,
            },
            Log = log,
        };
    }
}
