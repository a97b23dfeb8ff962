using System.Runtime.InteropServices;
using Husk.Interop;
using Husk.Resources;
using static Husk.Interop.Interop;

namespace Husk.Cli.Personalities.Oci;

/// <summary><c>start</c>, <c>kill</c> and <c>delete</c>: runc's transitions, with its wording where engines match text.</summary>
internal static class LifecycleCommands
{
    /// <summary>
    /// <c>start ID</c>: opens the FIFO for reading, which lets the init's gate go on: it writes one
    /// byte and execs the payload. A dead init is seen through its pidfd, so start never hangs.
    /// </summary>
    public static int Start(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, [], command: "start");
        string id = OciPersonality.OneId(line, "start");
        var state = ctx.Store.Require(id);
        string status = state.Status(ctx.Store);
        switch (status)
        {
            case "created":
                break;
            case "stopped":
                throw new OciRuntimeException("cannot start a container that has stopped");
            case "running" or "paused":
                throw new OciRuntimeException("cannot start an already running container");
            default:
                throw new OciRuntimeException($"cannot start a container in the {status} state");
        }
        var config = ctx.Store.LoadConfig(id);
        if (!config.Hooks.StartContainer.IsDefaultOrEmpty)
            ctx.Log.Warning("hooks.startContainer: run in the runtime's namespaces, not the container's");
        OciHookRunner.RunAll("startContainer", config.Hooks.StartContainer, state.ToSpecJson("created", false), state.Bundle);
        Release(ctx, state);
        OciHookRunner.RunAllWarning("poststart", config.Hooks.Poststart, state.ToSpecJson("running", false), state.Bundle, ctx.Log);
        return 0;
    }

    /// <summary>Opens the start FIFO for reading: the init's gate, blocked opening it for writing, writes its byte and execs the payload.</summary>
    internal static unsafe void Release(OciContext ctx, ContainerState state)
    {
        string fifoPath = ctx.Store.FifoPath(state.Id);
        // The init is checked before the FIFO opens: opening it lets the gate go, and a payload
        // that exits at once would then look like an init that never started (seen under
        // containerd: "container not running" for ctr run of a short command).
        using var pidfd = PidfdOpen(state.Pid) ?? throw new OciRuntimeException("container not running");
        // The pidfd names the init only if it is still the process that was started.
        if (!state.InitAlive())
            throw new OciRuntimeException("container not running");
        using var fifo = Open(fifoPath, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        PollFd* fds = stackalloc PollFd[2];
        fds[0] = new PollFd { Fd = fifo.Fd, Events = POLLIN };
        fds[1] = new PollFd { Fd = pidfd.Fd, Events = POLLIN };
        while (true)
        {
            int r = Poll(fds, 2, -1);
            if (r < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                continue;
            if (r < 0)
                throw SyscallException.FromLastError("poll", fifoPath);
            if ((fds[0].REvents & POLLIN) != 0)
                break;
            if ((fds[1].REvents & POLLIN) != 0)
                throw new OciRuntimeException("container not running: its init exited before it was started");
        }
        byte b;
        Read(fifo.Fd, &b, 1);
        File.Delete(fifoPath);
    }

    public static readonly OciOption[] KillOptions = [new(["all", "a"], false)];

    /// <summary><c>kill [--all] ID [SIGNAL]</c>: SIGTERM by default; names (KILL, SIGKILL) and numbers (podman's).</summary>
    public static int Kill(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, KillOptions, command: "kill");
        if (line.Arguments.Count is < 1 or > 2)
            throw new OciUsageException("kill: \"kill\" requires a minimum of 1 and a maximum of 2 arguments");
        string id = line.Arguments[0];
        string sigText = line.Arguments.Count > 1 ? line.Arguments[1] : "SIGTERM";
        int signal = Signals.Parse(sigText) ?? throw new OciUsageException($"unknown signal \"{sigText}\"");
        var state = ctx.Store.Require(id);
        string status = state.Status(ctx.Store);
        if (status == "stopped")
            throw new OciRuntimeException("container not running");
        if (line.Flag("all") && state.CgroupDirectories.Length > 0)
        {
            var cgroup = CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories);
            if (signal == Signals.SIGKILL && cgroup.IsFrozen())
                cgroup.Freeze(false);
            cgroup.Signal(signal);
            return 0;
        }
        using var pidfd = PidfdOpen(state.Pid);
        if (pidfd is null || !state.InitAlive())
            throw new OciRuntimeException("container not running");
        int err = PidfdSendSignal(pidfd, signal);
        if (err == (int)Errno.ESRCH)
            throw new OciRuntimeException("container not running");
        if (err != 0)
            throw new SyscallException("kill", id, (Errno)err);
        return 0;
    }

    public static readonly OciOption[] DeleteOptions = [new(["force", "f"], false)];

    /// <summary>
    /// <c>delete [--force] ID</c>: a stopped container's cgroup and state go, then its poststop hooks
    /// run. Without --force anything but a stopped container is refused, as the runtime spec says
    /// (runc and crun delete a created one); with it the container is killed first.
    /// </summary>
    public static int Delete(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, DeleteOptions, command: "delete");
        string id = OciPersonality.OneId(line, "delete");
        bool force = line.Flag("force");
        var state = ctx.Store.Load(id);
        if (state is null)
        {
            if (force)
                return 0;
            throw new OciRuntimeException($"container \"{id}\" does not exist");
        }
        string status = state.Status(ctx.Store);
        if (status != "stopped")
        {
            if (!force)
                throw new OciRuntimeException($"cannot delete container {id} that is not stopped: {status}");
            KillAndWait(state);
        }
        Destroy(ctx, state);
        return 0;
    }

    /// <summary>SIGKILL to the init (thawed first) and everything in its cgroup; returns once the init has exited.</summary>
    internal static unsafe void KillAndWait(ContainerState state)
    {
        CgroupPlacement? cgroup = state.CgroupDirectories.Length > 0 ? CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories) : null;
        if (cgroup is not null && cgroup.IsFrozen())
            cgroup.Freeze(false);
        using var pidfd = PidfdOpen(state.Pid);
        if (pidfd is not null && state.InitAlive())
        {
            PidfdSendSignal(pidfd, Signals.SIGKILL);
            var fd = new PollFd { Fd = pidfd.Fd, Events = POLLIN };
            Poll(&fd, 1, 10_000);
        }
        cgroup?.Signal(Signals.SIGKILL);
    }

    /// <summary>Removes what the container left (its cgroup, its state) and runs its poststop hooks.</summary>
    internal static void Destroy(OciContext ctx, ContainerState state)
    {
        OciConfig? config = null;
        try
        {
            config = ctx.Store.LoadConfig(state.Id);
        }
        catch (Exception e) when (e is IOException or OciConfigException)
        {
            ctx.Log.Warning($"cannot read the config of {state.Id}: {e.Message}");
        }
        if (state.CgroupDirectories.Length > 0 && !CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories).Remove(TimeSpan.FromSeconds(5)))
            ctx.Log.Warning($"the cgroup of {state.Id} could not be removed: {string.Join(", ", state.CgroupDirectories)}");
        ctx.Store.Remove(state.Id);
        if (config is not null)
            OciHookRunner.RunAllWarning("poststop", config.Hooks.Poststop, state.ToSpecJson("stopped", false), state.Bundle, ctx.Log);
    }
}
