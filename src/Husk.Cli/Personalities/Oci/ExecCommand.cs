using System.Collections.Immutable;
using System.Globalization;
using Husk.Interop;
using Husk.Launch;
using Husk.Resources;
using static Husk.Interop.Interop;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// <c>exec</c>: a new process in a running container, joined to every namespace of its init
/// (through a pidfd) and to its cgroup, with the container's seccomp filter and the capabilities,
/// identity and environment of the process description (<c>--process FILE</c>, as conmon and
/// containerd give it) or of the config and the flags. <c>--detach</c> leaves it to the caller's
/// subreaper as <c>create</c> does; otherwise exec waits and exits with its status.
/// </summary>
internal static class ExecCommand
{
    public static readonly OciOption[] Options =
    [
        new(["console-socket"], true), new(["cwd"], true), new(["env", "e"], true, Repeatable: true), new(["tty", "t"], false),
        new(["user", "u"], true), new(["additional-gids", "g"], true, Repeatable: true), new(["process", "p"], true),
        new(["detach", "d"], false), new(["pid-file"], true), new(["process-label"], true), new(["apparmor"], true),
        new(["no-new-privs"], false), new(["cap", "c"], true, Repeatable: true), new(["preserve-fds"], true), new(["cgroup"], true),
        new(["ignore-paused"], false),
    ];

    private static readonly (NamespaceKinds Kind, string Name)[] Kinds =
    [
        (NamespaceKinds.User, "user"), (NamespaceKinds.Mount, "mnt"), (NamespaceKinds.Pid, "pid"), (NamespaceKinds.Ipc, "ipc"),
        (NamespaceKinds.Uts, "uts"), (NamespaceKinds.Net, "net"), (NamespaceKinds.Cgroup, "cgroup"), (NamespaceKinds.Time, "time"),
    ];

    public static int Run(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, Options, stopAfter: 1, command: "exec");
        if (line.Arguments.Count < 1)
            throw new OciUsageException("exec: \"exec\" requires a minimum of 1 argument");
        string id = line.Arguments[0];
        var state = ctx.Store.Require(id);
        string status = state.Status(ctx.Store);
        if (status == "stopped")
            throw new OciRuntimeException("cannot exec in a stopped container");
        if (status == "paused" && !line.Flag("ignore-paused"))
            throw new OciRuntimeException("cannot exec in a paused container");
        var config = ctx.Store.LoadConfig(id);
        var process = ProcessOf(line, config);
        if (process.Args.IsDefaultOrEmpty)
            throw new OciUsageException("exec: no command given: name the program to run, or pass --process");
        string? consoleSocket = line.Value("console-socket");
        bool detach = line.Flag("detach");
        if (process.Terminal && consoleSocket is null && detach)
            throw new OciRuntimeException("cannot allocate tty if runc will detach without setting console socket");

        using var pidfd = PidfdOpen(state.Pid);
        if (pidfd is null || !state.InitAlive())
            throw new OciRuntimeException("container not running");
        // Join what the container does not share with us (joining one's own user namespace is refused).
        NamespaceKinds join = 0;
        foreach (var (kind, name) in Kinds)
        {
            ulong theirs = NamespaceInode(name, state.Pid);
            if (theirs != 0 && theirs != NamespaceInode(name))
                join |= kind;
        }
        var warnings = new List<string>();
        var spec = Map(process, config, state.Bundle, join, pidfd.Fd, ctx.Host, warnings, Preserve(line));
        foreach (string w in warnings)
            ctx.Log.Warning(w);
        var cgroup = state.CgroupDirectories.Length > 0 ? CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories) : null;
        var hooks = new LaunchHooks { BeforeRelease = pid => cgroup?.Attach(pid) };
        var started = Launcher.Start(spec, hooks);
        try
        {
            if (process.Terminal && consoleSocket is not null)
                CreateCommand.SendConsole(consoleSocket, started.TerminalMaster!);
            if (line.Value("pid-file") is { } pidFile)
                ContainerStore.WritePidFile(pidFile, started.Pid);
        }
        catch
        {
            started.Kill();
            started.Release();
            throw;
        }
        if (detach)
        {
            started.Release();
            return 0;
        }
        try
        {
            return process.Terminal && consoleSocket is null ? OciTerminal.Relay(started.TerminalMaster!, started.Pid) : OciTerminal.Wait(started.Pid);
        }
        finally
        {
            started.Release();
        }
    }

    private static int Preserve(OciCommandLine line) =>
        line.Value("preserve-fds") is { } p ? int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n <= 1024 ? n : throw new OciUsageException($"invalid value \"{p}\" for flag -preserve-fds") : 0;

    /// <summary>The process to run: --process's document, else the config's process changed by the flags (runc's rules).</summary>
    internal static OciProcess ProcessOf(OciCommandLine line, OciConfig config)
    {
        if (line.Value("process") is { } file)
        {
            string json;
            try
            {
                json = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new OciRuntimeException($"open {file}: {ErrorText.Reason(e)}");
            }
            return OciProcess.Parse(ConfigNode.Parse(json, file));
        }
        var base_ = config.Process ?? throw new OciConfigException("process: missing in the container's config");
        var user = base_.User;
        if (line.Value("user") is { } u)
        {
            string[] parts = u.Split(':');
            if (!uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint uid)
                || (parts.Length > 1 && !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out _)) || parts.Length > 2)
                throw new OciUsageException($"exec: --user takes UID[:GID] as numbers: {u}");
            user = user with { Uid = uid, Gid = parts.Length > 1 ? uint.Parse(parts[1], CultureInfo.InvariantCulture) : user.Gid };
        }
        var gids = line.Values("additional-gids").SelectMany(g => g.Split(',')).Select(g => uint.TryParse(g, NumberStyles.None, CultureInfo.InvariantCulture, out uint n)
            ? n : throw new OciUsageException($"exec: --additional-gids takes numbers: {g}")).ToImmutableArray();
        if (gids.Length > 0)
            user = user with { AdditionalGids = gids };
        var caps = base_.Capabilities;
        if (line.Values("cap").Count > 0 && caps is not null)
        {
            var add = line.Values("cap").ToImmutableArray();
            caps = caps with
            {
                Bounding = [.. caps.Bounding.Union(add)],
                Effective = [.. caps.Effective.Union(add)],
                Permitted = [.. caps.Permitted.Union(add)],
                Ambient = [.. caps.Ambient.Union(add)],
                Inheritable = [.. caps.Inheritable.Union(add)],
            };
        }
        var env = base_.Env.ToList();
        foreach (string e in line.Values("env"))
        {
            string name = e.Split('=')[0];
            env.RemoveAll(x => x.Split('=')[0] == name);
            env.Add(e);
        }
        return base_ with
        {
            Args = [.. line.Arguments.Skip(1)],
            Env = [.. env],
            Cwd = line.Value("cwd") ?? base_.Cwd,
            Terminal = line.Flag("tty"),
            User = user,
            Capabilities = caps,
            NoNewPrivileges = base_.NoNewPrivileges || line.Flag("no-new-privs"),
        };
    }

    /// <summary>The spec of an exec'd process: the container's namespaces joined, its seccomp filter, the process's own identity and capabilities.</summary>
    internal static SandboxSpec Map(OciProcess process, OciConfig config, string bundle, NamespaceKinds join, int pidfd, OciHost host, List<string> warnings, int preserveFds)
    {
        var seccomp = SeccompSpec.None;
        if (config.Linux.Seccomp is { } s)
        {
            var (policy, notify) = OciSeccompProfile.Map(s, warnings, null);
            if (notify)
                warnings.Add("linux.seccomp: the exec'd process's notify rules get no listener: they fail with ENOSYS");
            seccomp = SeccompSpec.Of(notify ? Unnotified(policy) : policy);
        }
        // Use the container's own mapping of the spec's process fields (capabilities, rlimits...) through a config with this process.
        var mapped = OciSpecMapper.Map(config with { Process = process, Hooks = new(), Mounts = [], Linux = config.Linux with { Devices = [], MaskedPaths = [], ReadonlyPaths = [], Resources = null, Sysctl = [], Seccomp = null } },
            bundle, "exec", host with { HasKcore = false }, preserveFds: preserveFds);
        var p = mapped.Spec;
        return new SandboxSpec
        {
            Command = process.Args,
            SearchPath = true,
            ScriptShell = false,
            Namespaces = NamespaceKinds.None,
            NestedUserNamespaces = NestedUserNamespaces.ProfileOnly,
            // Nothing to join (a container in all of the runtime's namespaces): setns would refuse an empty set.
            JoinProcessFd = pidfd < 0 || join == NamespaceKinds.None ? null : Descriptors.Borrow(pidfd),
            JoinNamespaces = join,
            Identity = new Identity { Uid = process.User.Uid, Gid = process.User.Gid, AdditionalGids = process.User.AdditionalGids },
            // A container without a mount namespace of its own is chrooted: so is what joins it.
            FileSystem = p.FileSystem as ChrootFileSystem ?? FileSystemSpec.Inherit,
            Environment = p.Environment,
            WorkingDirectory = process.Cwd,
            SetPwd = false,
            Umask = p.Umask,
            AsPid1 = false,
            Detached = true,
            Terminal = p.Terminal,
            Fds = p.Fds,
            Capabilities = p.Capabilities,
            NoNewPrivileges = process.NoNewPrivileges,
            Landlock = LandlockSpec.Off,
            Seccomp = seccomp,
            Rlimits = p.Rlimits,
            OomScoreAdjust = p.OomScoreAdjust,
        };
    }

    /// <summary>A policy whose notify rules fail with ENOSYS instead (nobody listens for an exec'd process).</summary>
    private static Policy.SeccompPolicy Unnotified(Policy.SeccompPolicy policy) => policy with
    {
        Rules = [.. policy.Rules.Select(r => r.Action.Kind == Policy.SeccompActionKind.UserNotify ? r with { Action = Policy.SeccompAction.Fail(Errno.ENOSYS) } : r)],
    };
}
