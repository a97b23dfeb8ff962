using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Cli.Personalities.Bwrap;

/// <summary>
/// The bwrap front door: a drop-in for bubblewrap 0.11.1. It parses bubblewrap's command line,
/// applies its rules, turns the result into a <see cref="SandboxSpec"/> and reports the way
/// bubblewrap reports (messages prefixed "bwrap: ", exit 1 for its own errors, the command's
/// status otherwise, --info-fd and --json-status-fd JSON).
/// </summary>
internal static class BwrapPersonality
{
    public static int Run(string argv0, string[] args)
    {
        var log = new BwrapLog();
        try
        {
            return RunCore(argv0, args, log);
        }
        catch (BwrapExit e)
        {
            return e.Code;
        }
        catch (BwrapError e)
        {
            log.Log(BwrapLog.Error, e.Message);
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or SyscallException)
        {
            // One line, as bubblewrap would print, rather than a runtime stack trace.
            log.Log(BwrapLog.Error, ErrorText.Of(e));
            return 1;
        }
    }

    private static int RunCore(string argv0, string[] args, BwrapLog log)
    {
        // Answered before anything else, so it works anywhere (build systems ask for it).
        if (args is ["--version"])
        {
            BwrapLog.WriteFd(1, BwrapUsage.Version + "\n");
            return 0;
        }

        uint uid = GetUid();
        var status = ProcStatus();
        if (uid != 0 && status.Permitted != 0)
            throw new BwrapError("Unexpected capabilities but not setuid, old file caps config?");
        var options = new BwrapOptions
        {
            RequestedCaps = uid == 0 ? status.Effective : 0,
            Environment = ReadEnvironment(),
        };
        if (args.Length == 0)
            throw new BwrapExit(Usage(argv0, stderr: true));

        var parser = new BwrapParser(options, log, ReadAndClose, text => BwrapLog.WriteFd(1, text), argv0);
        parser.Parse(args);

        var host = new BwrapHost
        {
            Uid = uid,
            Gid = GetGid(),
            UserNamespacesUsable = !options.UnshareUserTry || UserNamespacesUsable(),
            CgroupNamespaces = !(options.UnshareCgroup || options.UnshareCgroupTry) || TryStat("/proc/self/ns/cgroup", out _) == 0,
            KnownCaps = KnownCaps(),
            PermittedCaps = status.Permitted,
        };
        BwrapSpecBuilder.Check(options, host);
        if (options.Command.Count == 0)
            throw new BwrapExit(Usage(argv0, stderr: true));
        BwrapSpecBuilder.CheckIdentity(options, host);

        byte[]? seccomp = options.SeccompFd is { } seccompFd ? BwrapParser.ReadSeccomp(ReadAndClose, seccompFd) : null;
        CheckDescriptors(options);
        var (spec, origins) = BwrapSpecBuilder.Build(options, host, seccomp);

        // Descriptors bubblewrap reads or keeps for itself must not reach the command.
        foreach (int fd in options.ConsumedFds)
            SetCloexec(fd);
        if (options.SyncFd is { } sync && !options.AsPid1)
            SetCloexec(sync); // husk-init keeps it; with --as-pid-1 bubblewrap leaves it to the command
        if (options.DieWithParent && Prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0)
            throw new BwrapError($"prctl: {BwrapLog.StrError((Errno)Marshal.GetLastPInvokeError())}");

        var hooks = new LaunchHooks
        {
            SandboxPidKnown = pid => ReportStarted(pid, options),
            BeforeRelease = options.UsernsBlockFd is { } blockFd ? _ => WaitReadable(blockFd) : null,
        };
        var hostContext = HostContext.Current() with
        {
            WorkingDirectory = CurrentDirectory(options),
            Home = options.GetEnv("HOME"),
        };

        SandboxExit exit;
        try
        {
            exit = SandboxRunner.Run(spec, hooks, host: hostContext);
        }
        catch (SandboxSetupException e)
        {
            throw new BwrapError(new BwrapErrors(options, origins).Describe(e));
        }
        catch (SandboxSpecException e)
        {
            throw new BwrapError(e.Problems.IsDefaultOrEmpty ? e.Message : e.Problems[0]);
        }
        catch (SyscallException e)
        {
            throw new BwrapError(e.Message);
        }

        int code = exit.ShellStatus;
        if (options.JsonStatusFd is { } jsonFd)
        {
            // The command ran (setup failures never get here), so its status is reported.
            BwrapLog.WriteFd(jsonFd, BwrapStatus.Exited(code));
            Close(jsonFd);
        }
        return code;
    }

    private static int Usage(string argv0, bool stderr)
    {
        BwrapLog.WriteFd(stderr ? 2 : 1, BwrapUsage.Text(argv0));
        return stderr ? 1 : 0;
    }

    /// <summary>Writes --info-fd (then closes it) and the first --json-status-fd line, once the sandbox's pid is known.</summary>
    private static void ReportStarted(int pid, BwrapOptions o)
    {
        if (o.InfoFd is null && o.JsonStatusFd is null)
            return;
        var ids = BwrapStatus.NamespaceIds(pid, o);
        if (o.InfoFd is { } info)
        {
            WriteOrDie(info, BwrapStatus.Info(pid, ids), "Write to info_fd");
            Close(info);
        }
        if (o.JsonStatusFd is { } json)
            WriteOrDie(json, BwrapStatus.Started(pid, ids), "Write to info_fd");
    }

    private static void WriteOrDie(int fd, string text, string what)
    {
        try
        {
            WriteAll(fd, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException e)
        {
            throw new BwrapError($"{what}: {BwrapLog.StrError(e.Errno)}");
        }
    }

    /// <summary>--userns-block-fd: the supervisor waits, after writing --info-fd, until someone else has mapped the ids.</summary>
    private static unsafe void WaitReadable(int fd)
    {
        byte b;
        Read(fd, &b, 1);
        Close(fd);
    }

    /// <summary>
    /// Whether <paramref name="fd"/> is one the caller gave us. Everything inherited across exec is
    /// without close-on-exec, and everything the runtime opens has it: a number the caller did not
    /// open may name one of the runtime's own descriptors here, where bubblewrap would see EBADF.
    /// </summary>
    internal static bool IsCallerFd(int fd)
    {
        int flags = Fcntl(fd, F_GETFD, 0);
        return flags >= 0 && (flags & FD_CLOEXEC) == 0;
    }

    /// <summary>
    /// Descriptors named on the command line that are not the caller's fail (or are ignored) as
    /// bubblewrap's use of a closed descriptor would, before anything could touch the runtime's.
    /// </summary>
    private static void CheckDescriptors(BwrapOptions o)
    {
        string ebadf = BwrapLog.StrError(Errno.EBADF);
        if (o.UsernsFd is { } userns && !IsCallerFd(userns))
            throw new BwrapError($"Joining specified user namespace failed: {ebadf}");
        if (o.InfoFd is { } info && !IsCallerFd(info))
            throw new BwrapError($"Write to info_fd: {ebadf}");
        if (o.JsonStatusFd is { } json && !IsCallerFd(json))
            throw new BwrapError($"Write to info_fd: {ebadf}");
        if (o.Userns2Fd is { } userns2 && !IsCallerFd(userns2))
            throw new BwrapError($"Setting userns2 failed: {ebadf}");
        if (o.PidnsFd is { } pidns && !IsCallerFd(pidns))
            throw new BwrapError($"Setting pidns failed: {ebadf}");
        foreach (var op in o.Ops)
        {
            if (op.Fd < 0 || IsCallerFd(op.Fd))
                continue;
            if (op.Kind is BwrapOpKind.BindFd or BwrapOpKind.ReadOnlyBindFd)
                throw new BwrapError($"Can't find source path {op.Source}: {BwrapLog.StrError(Errno.ENOENT)}");
            throw new BwrapError($"Can't write data to file {op.Dest}: {ebadf}");
        }
        // Waiting on or keeping a closed descriptor does nothing in bubblewrap.
        if (o.SyncFd is { } sync && !IsCallerFd(sync))
            o.SyncFd = null;
        if (o.BlockFd is { } block && !IsCallerFd(block))
            o.BlockFd = null;
        if (o.UsernsBlockFd is { } usernsBlock && !IsCallerFd(usernsBlock))
            o.UsernsBlockFd = null;
        o.ConsumedFds.RemoveWhere(fd => !IsCallerFd(fd));
    }

    private static void SetCloexec(int fd)
    {
        int flags = Fcntl(fd, F_GETFD, 0);
        if (flags >= 0)
            Fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }

    /// <summary>Reads a descriptor of the caller to its end, then closes it.</summary>
    private static unsafe (byte[]? Data, Errno Error) ReadAndClose(int fd)
    {
        if (!IsCallerFd(fd))
            return (null, Errno.EBADF);
        var buffer = new MemoryStream();
        byte* chunk = stackalloc byte[8192];
        try
        {
            while (true)
            {
                nint n = Read(fd, chunk, 8192);
                if (n < 0)
                    return (null, (Errno)Marshal.GetLastPInvokeError());
                if (n == 0)
                    return (buffer.ToArray(), 0);
                buffer.Write(new ReadOnlySpan<byte>(chunk, (int)n));
            }
        }
        finally
        {
            Close(fd);
        }
    }

    /// <summary>The environment bubblewrap itself got, in its order.</summary>
    private static List<string> ReadEnvironment() => Husk.Launch.CallerEnvironment.AsStarted();

    /// <summary>The working directory as get_current_dir_name() gives it: $PWD when that is this directory.</summary>
    private static string CurrentDirectory(BwrapOptions o)
    {
        string cwd;
        try
        {
            cwd = Directory.GetCurrentDirectory();
        }
        catch (IOException)
        {
            return "/";
        }
        if (o.GetEnv("PWD") is { Length: > 0 } pwd && pwd.StartsWith('/') && pwd != cwd
            && TryStat(pwd, out Statx a) == 0 && TryStat(".", out Statx b) == 0
            && a.Ino == b.Ino && a.DevMajor == b.DevMajor && a.DevMinor == b.DevMinor)
            return pwd;
        return cwd;
    }

    /// <summary>Whether --unshare-user-try gets a user namespace: the kernel has them and they are not switched off.</summary>
    private static bool UserNamespacesUsable()
    {
        if (TryStat("/proc/self/ns/user", out _) != 0)
            return false;
        if (ReadSmallFile("/sys/module/user_namespace/parameters/enable") is { Length: > 0 } enable && enable[0] == 'N')
            return false;
        return ReadSmallFile("/proc/sys/user/max_user_namespaces") != "0\n";
    }

    private static ulong KnownCaps()
    {
        if (ReadSmallFile("/proc/sys/kernel/cap_last_cap") is { } text
            && int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int last) && last is >= 0 and < 63)
            return (1UL << (last + 1)) - 1;
        return (1UL << 41) - 1;
    }

    private static (ulong Permitted, ulong Effective) ProcStatus()
    {
        var caps = Husk.Policy.ProcessCapabilities.Current();
        return (caps.Permitted, caps.Effective);
    }

    private static string? ReadSmallFile(string path) => Husk.Resources.ProcFile.ReadText(path);
}
