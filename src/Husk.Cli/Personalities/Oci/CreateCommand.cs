using System.Globalization;
using System.Text.Json;
using Husk.Interop;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// <c>create</c>: the container is made as runc makes it. The config maps onto a spec whose payload
/// waits in husk-init's gate on ROOT/ID/exec.fifo; the hooks that run before the root switch run
/// while the sandbox pauses; the pty master goes to the console socket, a seccomp listener to its
/// listenerPath; state.json and the pid file (no newline) are written, and create exits, leaving
/// the container's init to the caller's subreaper. A failure removes everything made so far.
/// </summary>
internal static class CreateCommand
{
    public static readonly OciOption[] Options =
    [
        new(["bundle", "b"], true), new(["console-socket"], true), new(["pid-file"], true), new(["no-pivot"], false),
        new(["no-new-keyring"], false), new(["preserve-fds"], true),
    ];

    public static int Run(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, Options, command: "create");
        string id = OciPersonality.OneId(line, "create");
        var (_, process) = CreateContainer(ctx, id, line);
        process.Release();
        return 0;
    }

    /// <summary>Creates the container and returns its state and its (still waiting) init.</summary>
    internal static (ContainerState State, SandboxProcess Process) CreateContainer(OciContext ctx, string id, OciCommandLine line, bool keepTerminal = false)
    {
        ContainerStore.CheckId(id);
        string bundle = Path.GetFullPath(line.Value("bundle") ?? ".");
        string configPath = Path.Combine(bundle, "config.json");
        string json;
        try
        {
            json = File.ReadAllText(configPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OciRuntimeException($"open {configPath}: {ErrorText.Reason(e)}");
        }
        var config = OciConfig.Parse(json);
        int preserve = 0;
        if (line.Value("preserve-fds") is { } p && (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out preserve) || preserve > 1024))
            throw new OciUsageException($"invalid value \"{p}\" for flag -preserve-fds");
        if (Environment.GetEnvironmentVariable("LISTEN_FDS") is { } listen && int.TryParse(listen, NumberStyles.None, CultureInfo.InvariantCulture, out int listened))
            preserve += listened;
        var mapping = OciSpecMapper.Map(config, bundle, id, ctx.Host, ctx.SystemdCgroup, preserve);
        foreach (string warning in mapping.Warnings)
            ctx.Log.Warning(warning);
        foreach (string note in mapping.Notes)
            ctx.Log.Debug(note);
        bool terminal = config.Process!.Terminal;
        string? consoleSocket = line.Value("console-socket");
        if (terminal && consoleSocket is null && !keepTerminal)
            throw new OciRuntimeException("cannot allocate tty if runc will detach without setting console socket");
        if (!terminal && consoleSocket is not null)
            throw new OciRuntimeException("cannot use console socket if runc will not detach or allocate tty");

        ctx.Store.CreateDirectory(id);
        SandboxProcess? process = null;
        var fds = new List<SafeFd>();
        try
        {
            File.WriteAllText(ctx.Store.ConfigPath(id), json);
            string rootfs = ((RootfsFileSystem)mapping.Spec.FileSystem).Path;
            var state = new ContainerState
            {
                Id = id,
                Bundle = bundle,
                Rootfs = rootfs,
                OciVersion = config.OciVersion,
                Created = DateTimeOffset.UtcNow,
                Annotations = config.Annotations,
                Creating = true,
            };
            ctx.Store.Save(state);
            string fifoPath = ctx.Store.FifoPath(id);
            // 0622 whatever the umask: the init may be an unmapped id by the time it opens it (runc's mode).
            if (Mkfifo(fifoPath, 0x192) != 0 || Fchmodat(AT_FDCWD, fifoPath, 0x192, 0) != 0)
                throw SyscallException.FromLastError("mkfifo", fifoPath);
            var fifo = Open(fifoPath, O_PATH | O_CLOEXEC);
            fds.Add(fifo);
            var nsFds = new List<System.Runtime.InteropServices.SafeHandle>();
            foreach (var (kind, path) in mapping.JoinPaths)
            {
                int err = TryOpen(path, O_RDONLY | O_CLOEXEC, out var nsFd);
                if (err != 0)
                    throw new OciRuntimeException($"open {path}: {SyscallException.Describe((Errno)err)} (the {kind.ToString().ToLowerInvariant()} namespace to join)");
                fds.Add(nsFd!);
                nsFds.Add(nsFd!);
            }
            var spec = mapping.WithNamespaceFds(nsFds) with { StartFifoFd = fifo };
            var hooks = new LaunchHooks
            {
                Warning = ctx.Log.Warning,
                Paused = pid =>
                {
                    // The hooks see the init's pid; prestart sees "created", as crun shows it.
                    var now = state with { Pid = pid, StartTicks = SandboxRegistryTicks(pid), Creating = false };
                    OciHookRunner.RunAll("prestart", config.Hooks.Prestart, now.ToSpecJson("created", false), bundle);
                    OciHookRunner.RunAll("createRuntime", config.Hooks.CreateRuntime, now.ToSpecJson("creating", false), bundle);
                    OciHookRunner.RunAll("createContainer", config.Hooks.CreateContainer, now.ToSpecJson("creating", false), bundle);
                },
            };
            process = Launcher.Start(spec, hooks);
            state = state with
            {
                Pid = process.Pid,
                StartTicks = SandboxRegistryTicks(process.Pid),
                Creating = false,
                CgroupDirectories = [.. process.CgroupPlacement?.Directories ?? []],
            };
            // A child that dies before its gate without a report (under a memory limit too small
            // for it even the report's send fails) ends the report stream as the gate does: create fails,
            // as runc's does, rather than leave a container that stopped before it was started.
            if (!state.InitAlive() || !state.AtGate())
                throw new OciRuntimeException(InitEnded(process, config));
            if (terminal && process.TerminalMaster is null)
                throw new OciRuntimeException("the container's pseudo-terminal was not received");
            if (terminal && consoleSocket is not null)
                SendConsole(consoleSocket, process.TerminalMaster!);
            if (process.SeccompListener is { } listener)
                SendListener(config.Linux.Seccomp!, state, listener);
            ctx.Store.Save(state);
            if (line.Value("pid-file") is { } pidFile)
                ContainerStore.WritePidFile(pidFile, process.Pid);
            return (state, process);
        }
        catch
        {
            if (process is not null)
            {
                process.Kill();
                process.CgroupPlacement?.Remove(TimeSpan.FromSeconds(2));
                process.Release();
            }
            try
            {
                ctx.Store.Remove(id);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
            {
                ctx.Log.Warning($"cannot remove {ctx.Store.Directory(id)}: {ErrorText.Reason(e)}");
            }
            throw;
        }
        finally
        {
            foreach (var fd in fds)
                fd.Dispose();
        }
    }

    /// <summary>
    /// Why the container's init is gone while create made it, as one line. Under a memory limit
    /// the limit is named: too small a one fails even the report of what failed (the kernel's
    /// counters do not always show it: a socket's failed charge raises no failcnt).
    /// </summary>
    private static string InitEnded(SandboxProcess process, OciConfig config)
    {
        var exit = process.WaitForExit();
        string how = exit.Signal is int signal ? $"was killed by signal {signal}" : $"exited with status {exit.ExitCode}";
        return config.Linux.Resources?.MemoryLimit is long limit and > 0
            ? $"container init {how} while the container was made: is linux.resources.memory.limit ({limit}) too low?"
            : $"container init {how} while the container was made";
    }

    private static long SandboxRegistryTicks(int pid) => Resources.Cgroup.StartTicks(pid) ?? 0;

    /// <summary>runc's console socket protocol: connect to the path and send one message carrying the pty master (SCM_RIGHTS).</summary>
    internal static void SendConsole(string path, SafeFd master)
    {
        using var socket = ConnectUnixStream(path);
        int err = SendWithDescriptor(socket.Fd, "/dev/ptmx"u8, master.Fd);
        if (err != 0)
            throw new SyscallException("sendmsg", path, (Errno)err);
    }

    /// <summary>
    /// The seccomp user-notification listener to linux.seccomp.listenerPath, with the container
    /// process state (runtime-spec config-linux.md): one message, the descriptor in SCM_RIGHTS.
    /// </summary>
    private static void SendListener(OciSeccomp seccomp, ContainerState state, SafeFd listener)
    {
        string path = seccomp.ListenerPath!;
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("ociVersion", state.OciVersion);
            w.WriteStartArray("fds");
            w.WriteStringValue("seccompFd");
            w.WriteEndArray();
            w.WriteNumber("pid", state.Pid);
            if (seccomp.ListenerMetadata is { } metadata)
                w.WriteString("metadata", metadata);
            w.WritePropertyName("state");
            state.WriteSpecState(w, "creating");
            w.WriteEndObject();
        }
        using var socket = ConnectUnixStream(path);
        int err = SendWithDescriptor(socket.Fd, ms.ToArray(), listener.Fd);
        if (err != 0)
            throw new SyscallException("sendmsg", path, (Errno)err);
    }
}
