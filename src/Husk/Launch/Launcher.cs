using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>What a front door may do between the clone and the child's release (a wrapper copies it with <c>with</c>, so nothing is dropped).</summary>
internal sealed record LaunchHooks
{
    /// <summary>Called with the cloned child's pid after its ids are mapped and before it runs its ops.</summary>
    public Action<int>? BeforeRelease { get; init; }

    /// <summary>
    /// Called with the sandbox's pid (in the caller's pid namespace) as soon as it is known: before
    /// <see cref="BeforeRelease"/> normally, after the child reports it when a pid namespace is joined.
    /// </summary>
    public Action<int>? SandboxPidKnown { get; init; }

    /// <summary>A cgroup directory fd to start the child in (CLONE_INTO_CGROUP), or null.</summary>
    public SafeFd? Cgroup { get; init; }

    /// <summary>Called with the seccomp listener as soon as it arrives, before the payload's exec (which it may stop).</summary>
    public Action<SafeFd>? ListenerReceived { get; init; }

    /// <summary>
    /// Called with the sandbox's pid where the spec pauses (<see cref="SandboxSpec.PauseBeforeRootSwitch"/>):
    /// its namespaces and mounts are made; it goes on when this returns (and dies if this throws).
    /// </summary>
    public Action<int>? Paused { get; init; }

    /// <summary>Where a warning of the launch goes (a cgroup that could not be made); null: stderr.</summary>
    public Action<string>? Warning { get; init; }
}

/// <summary>Starts sandboxes: plans, clones on the spawn thread, maps ids, releases, collects the outcome.</summary>
internal static class Launcher
{
    private static readonly Lazy<SafeFd> InitImage = new(CreateInitImage);

    private static SafeFd CreateInitImage()
    {
        int fd = HuskInitMemfd();
        if (fd < 0)
            throw new SyscallException("memfd_create", "husk-init", (Errno)(-fd));
        return new SafeFd(fd);
    }

    /// <param name="spec">The sandbox.</param>
    /// <param name="hooks">What the front door does between clone and release.</param>
    /// <param name="host">The caller's facts (default: this process's).</param>
    /// <param name="starter">Who clones the child (a continuing launch's caller); null: the native stage here.</param>
    public static SandboxProcess Start(SandboxSpec spec, LaunchHooks? hooks = null, HostContext? host = null, ChildStarter? starter = null)
    {
        host ??= HostContext.Current();
        var subIds = SubordinateIdsFor(spec, host);
        spec = Supervised(spec);
        var layout = PrepareLayout(spec, host, subIds);
        using var stdio = StdioPipes.Create(spec, out var withFds);
        var image = PrepareImage(spec, host);
        // The bridge's address is taken before planning: the ops that configure eth0 name it.
        Network.BridgeLease? lease = null;
        SpawnPlan plan;
        try
        {
            if (spec.Network is { Mode: NetworkMode.Bridge, Filter: false } && spec.Namespaces.HasFlag(NamespaceKinds.Net))
                lease = Network.Bridge.Acquire(spec.Network);
            plan = SpawnPlanner.Plan(withFds, host, subIds, layout, image, lease);
        }
        catch
        {
            image?.Dispose();
            if (lease is not null)
                Network.Bridge.Release(lease);
            throw;
        }
        return StartPlanned(spec, plan, host, hooks, stdio, layout, image, starter, lease);
    }

    /// <summary>The subordinate id ranges of the caller, where the spec maps a range (root's default, or --map-subids).</summary>
    internal static SubordinateIds? SubordinateIdsFor(SandboxSpec spec, HostContext host)
    {
        bool single = spec.Identity.Mapping is IdMapping.Single or IdMapping.External;
        return spec.Namespaces.HasFlag(NamespaceKinds.User) && !single && (host.IsRoot || spec.Identity.Mapping == IdMapping.SubordinateRange)
            ? SubordinateIds.Read(Environment.UserName, host.Uid)
            : null;
    }

    /// <summary>The spec as it runs: with a syscall callback, supervised (the verdict of the callback's kill needs the supervisor).</summary>
    internal static SandboxSpec Supervised(SandboxSpec spec)
    {
        if (spec.SyscallCallback is null)
            return spec;
        if (spec.Validate() is { Length: > 0 } problems)
            throw new SandboxSpecException(problems);
        return spec.Limits.IsSupervised ? spec : spec with { Limits = spec.Limits with { MeasureUsage = true } };
    }

    /// <summary>
    /// Starts a planned launch with what supervises it (limits and usage, the syscall callback, the
    /// streams): cloned here, or by a pool's template (<paramref name="starter"/>).
    /// </summary>
    internal static SandboxProcess StartPlanned(SandboxSpec spec, SpawnPlan plan, HostContext host, LaunchHooks? hooks, StdioPipes stdio,
        FileSystem.HostOverlayLayout? layout, Images.PreparedImage? image = null, ChildStarter? starter = null, Network.BridgeLease? lease = null)
    {
        var callback = spec.SyscallCallback;
        // A cgroup of the spec's own holds the child from its first instruction (joined before its release).
        Resources.CgroupPlacement? cgroup = null;
        if (spec.Cgroup is { } cg)
        {
            try
            {
                cgroup = Resources.CgroupPlacement.Create(Resources.HostCgroupFs.Instance, cg, out string? warning);
                if (warning is not null)
                    (hooks?.Warning ?? Console.Error.WriteLine)(warning);
            }
            catch
            {
                image?.Dispose();
                if (lease is not null)
                    Network.Bridge.Release(lease);
                throw;
            }
            if (cgroup is not null)
            {
                var given = hooks;
                var placed = cgroup;
                hooks = (given ?? new LaunchHooks()) with
                {
                    BeforeRelease = pid =>
                    {
                        placed.Attach(pid);
                        given?.BeforeRelease?.Invoke(pid);
                    },
                };
            }
        }
        var log = new Logging.EngineLog(spec.Log);
        if (log.On(Logging.LogLevel.Debug) || log.On(Logging.LogLevel.Info))
        {
            var now = DateTimeOffset.Now;
            foreach (var e in Logging.PlanEvents.Of(spec, plan))
                log.Write(e with { Time = now });
        }
        // What was taken for this launch before the clone goes back when a step before it fails.
        void Abandon()
        {
            if (lease is not null)
                Network.Bridge.Release(lease);
            cgroup?.Remove(TimeSpan.FromSeconds(2));
            image?.Dispose();
        }
        Resources.ResourceSupervisor? supervisor;
        try
        {
            supervisor = spec.Limits.IsSupervised ? Resources.ResourceSupervisor.Prepare(spec, host, plan.Mounts) : null;
        }
        catch
        {
            Abandon();
            throw;
        }
        if (supervisor is not null)
        {
            log.Info("limits", new Logging.LogField("backend", supervisor.Backend));
            foreach (string note in supervisor.Notes)
                log.Warn("limits: " + note, new Logging.LogField("backend", supervisor.Backend));
        }
        var launchHooks = supervisor?.Hooks(hooks) ?? hooks;
        Tracing.SyscallNotifier? notifier = null;
        if (callback is { Traced: false })
        {
            // The notifier must serve from the moment the filter is in: the payload's own exec is stopped too.
            launchHooks = (launchHooks ?? new LaunchHooks()) with
            {
                ListenerReceived = listener => notifier = Tracing.SyscallNotifier.Start(listener, callback),
            };
        }
        Tracing.SyscallTracer? tracer = null;
        // A traced callback is decided by the tracer, which stops the callback's calls only.
        var traceSpec = spec.Trace ?? (callback is { Traced: true } ? new TraceSpec { Syscalls = Tracing.SyscallSet.Parse(string.Join(',', callback.Syscalls)) } : null);
        if (traceSpec is { } trace)
        {
            try
            {
                tracer = StartTracer(trace, supervisor, callback is { Traced: true } ? callback : null);
            }
            catch
            {
                Abandon(); // StartTracer disposed of the supervisor
                throw;
            }
            // Seized before the child is released: nothing it does escapes the trace.
            var inner = launchHooks;
            launchHooks = (inner ?? new LaunchHooks()) with
            {
                BeforeRelease = pid =>
                {
                    inner?.BeforeRelease?.Invoke(pid);
                    tracer.Seize(pid);
                },
            };
        }
        SandboxProcess process;
        Network.NetworkSession? network = null;
        try
        {
            network = Network.NetworkSession.For(plan.Network);
            process = Start(plan, host, launchHooks, network, starter);
        }
        catch
        {
            network?.Dispose();
            if (network is null && lease is not null)
                Network.Bridge.Release(lease);
            tracer?.Dispose();
            notifier?.Dispose();
            supervisor?.Dispose();
            cgroup?.Remove(TimeSpan.FromSeconds(2));
            image?.Dispose();
            throw;
        }
        process.CgroupPlacement = cgroup;
        process.Network = network;
        network?.OnKill(process.Kill);
        stdio.CloseChildEnds();
        var (stdin, stdout, stderr) = stdio.TakeStreams(supervisor);
        process.Attach(supervisor, stdin, stdout, stderr);
        process.Layout = layout;
        process.Image = image;
        process.Policy = plan.Policy;
        if (notifier is not null)
        {
            process.Notifier = notifier;
            notifier.Arm(supervisor, process.Kill);
        }
        if (tracer is not null)
        {
            process.Tracer = tracer;
            tracer.Arm(supervisor, process.Kill);
            // With a pid namespace every traced process ends with the sandbox: the result waits for the last one.
            process.TraceEndsWithSandbox = spec.Namespaces.HasFlag(NamespaceKinds.Pid) || spec.PidNamespaceFd is not null;
        }
        supervisor?.Started(process, plan.UsesInit);
        process.Log = log;
        log.Info("started", new Logging.LogField("sandbox_pid", process.Pid), new Logging.LogField("command", string.Join(' ', spec.Command)));
        return process;
    }

    /// <summary>Starts the tracer thread with its output open; a file that cannot be made is a setup error naming it.</summary>
    private static Tracing.SyscallTracer StartTracer(TraceSpec trace, Resources.ResourceSupervisor? supervisor, Policy.SyscallCallback? observer)
    {
        try
        {
            return Tracing.SyscallTracer.Start(trace, observer);
        }
        catch (SyscallException e)
        {
            supervisor?.Dispose();
            throw new SandboxSetupException($"husk: trace output {trace.OutputFile}: {SyscallException.Describe(e.Errno)}", e.Errno) { Stage = SandboxSetupStage.Start };
        }
    }

    /// <summary>Lays out and prepares the host overlay on disk, for a spec that asks for one.</summary>
    private static FileSystem.HostOverlayLayout? PrepareLayout(SandboxSpec spec, HostContext host, SubordinateIds? subIds)
    {
        if (spec.FileSystem is not HostOverlayFileSystem fs || !spec.Namespaces.HasFlag(NamespaceKinds.Mount))
            return null;
        if (spec.Validate() is { Length: > 0 } problems)
            throw new SandboxSpecException(problems);
        var layout = FileSystem.HostOverlayLayout.Plan(fs, spec, host);
        layout.Prepare(SpawnPlanner.IdmappedOwners(spec, host, subIds));
        return layout;
    }

    /// <summary>Reads the image and brings its layers into the cache, for a spec whose root is one.</summary>
    private static Images.PreparedImage? PrepareImage(SandboxSpec spec, HostContext host)
    {
        if (spec.FileSystem is not ImageFileSystem fs || !spec.Namespaces.HasFlag(NamespaceKinds.Mount))
            return null;
        if (spec.Validate() is { Length: > 0 } problems)
            throw new SandboxSpecException(problems);
        return new Images.ImageCache(fs.Cache ?? Images.ImageCache.DefaultLocation()).Prepare(fs.Reference, host.WorkingDirectory);
    }

    /// <param name="plan">The plan.</param>
    /// <param name="host">The caller's facts.</param>
    /// <param name="hooks">What the front door does between clone and release.</param>
    /// <param name="network">The network session the stage's sockets go to, or null.</param>
    /// <param name="starter">Who clones the child: null for the native stage here, or a pool's template.</param>
    internal static unsafe SandboxProcess Start(SpawnPlan plan, HostContext host, LaunchHooks? hooks, Network.NetworkSession? network = null, ChildStarter? starter = null)
    {
        SafeFd? statusRead = null, statusWrite = null;
        if (starter?.WantsStatus(plan) ?? plan.UsesInit)
            (statusRead, statusWrite) = Pipe();
        var (channel, childEnd) = ChannelPair();
        var spawn = starter is null
            ? StartHere(plan, host, hooks, channel, childEnd, statusWrite)
            : starter.Start(plan, host, hooks, channel, childEnd, statusWrite);
        SafePidfd? pidfd = null;
        try
        {
            using (channel)
            {
                int? childPid = ReadHello(channel.Fd);
                if (childPid is null)
                {
                    var failed = spawn.GetAwaiter().GetResult();
                    if (failed.Pid < 0)
                        throw CloneFailure((Errno)failed.Error, plan.CloneFlags);
                    pidfd = new SafePidfd(failed.Pidfd);
                    throw new SandboxSetupException("the sandbox process died before it started", Errno.ECHILD) { Stage = SandboxSetupStage.Start };
                }
                int pid = childPid.Value;
                Outcome outcome;
                TerminalForeground? foreground = null;
                try
                {
                    if (!plan.IdMapsAtSync)
                        WriteIdMaps(plan.IdMaps, pid);
                    using var views = IdmappedViews.Make(plan.IdmappedSources, pid);
                    // pasta or slirp4netns joins the namespace now, so the network is up when the child goes on.
                    network?.Attach(pid);
                    if (!plan.ReportsPid)
                        hooks?.SandboxPidKnown?.Invoke(pid);
                    hooks?.BeforeRelease?.Invoke(pid);
                    // Before the child goes on: what it forks (husk-init's payload) joins its group.
                    if (plan.ForegroundTerminal is { } terminal)
                        foreground = TerminalForeground.Lend(terminal, pid);
                    byte go = 1;
                    if (Send(channel.Fd, &go, 1, MSG_NOSIGNAL) != 1)
                        throw new SandboxSetupException("the sandbox died before it started", (Errno)Marshal.GetLastPInvokeError()) { Stage = SandboxSetupStage.Start };
                    views.Send(channel.Fd);
                    views.Dispose();
                    outcome = ReadReports(channel.Fd, plan, hooks, pid, network);
                }
                catch
                {
                    foreground?.End();
                    // The child may be waiting for us or for a --block-fd: kill it, so that clone3
                    // (sleeping until it execs or dies) returns. It is our unreaped child: its pid is
                    // safe. A pool's run is the template's child, whose pidfd comes with the answer
                    // after the run's exec: until then, by its pid (the template reaps a run only
                    // after sending that answer).
                    if (spawn.IsCompletedSuccessfully && spawn.Result.Pidfd >= 0)
                    {
                        pidfd = new SafePidfd(spawn.Result.Pidfd);
                        PidfdSendSignal(pidfd, Signals.SIGKILL);
                    }
                    else
                    {
                        KillByPid(pid);
                    }
                    channel.Dispose();
                    var r = spawn.GetAwaiter().GetResult();
                    if (r.Pid >= 0 && pidfd is null)
                        pidfd = new SafePidfd(r.Pidfd);
                    throw;
                }
                var result = spawn.GetAwaiter().GetResult();
                if (result.Pidfd < 0)
                {
                    // A pool's template answers after the run's exec: it can have gone meanwhile.
                    KillByPid(pid);
                    throw new SandboxSetupException($"the pool's template failed the run: {SyscallException.Describe((Errno)result.Error)}", (Errno)result.Error) { Stage = SandboxSetupStage.Start };
                }
                pidfd = new SafePidfd(result.Pidfd);
                if (outcome.Error is { } error)
                {
                    foreground?.End();
                    throw error;
                }
                // The pid from the hello is the child's in our pid namespace (a template's answer has its own).
                var process = new SandboxProcess(pidfd, pid, outcome.SandboxPid ?? pid, statusRead, outcome.Listener, outcome.Terminal)
                {
                    Adopted = starter?.Adopted ?? false,
                    LayerStorage = outcome.Storage,
                    WorkingDirectory = outcome.WorkingDirectory ?? plan.Ops.FirstOrDefault(o => o.Kind == OpKind.Chdir)?.Strings?.FirstOrDefault(),
                    Foreground = foreground,
                };
                pidfd = null;
                return process;
            }
        }
        catch
        {
            if (pidfd is not null)
            {
                PidfdSendSignal(pidfd, Signals.SIGKILL);
                WaitPidfd(pidfd, WEXITED, out _, out _);
                pidfd.Dispose();
            }
            else
            {
                // clone3 is still sleeping for a child that may never exec: it ends with the channel.
                spawn.ContinueWith(t =>
                {
                    if (t.IsCompletedSuccessfully && t.Result.Pid >= 0)
                    {
                        using var p = new SafePidfd(t.Result.Pidfd);
                        PidfdSendSignal(p, Signals.SIGKILL);
                        WaitPidfd(p, WEXITED, out _, out _);
                    }
                }, TaskScheduler.Default);
            }
            statusRead?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The plan in native memory and husk_spawn's arguments for it: the channel's ends (the
    /// supervisor's, which the child closes), the status pipe, the cgroup and husk-init's image.
    /// </summary>
    internal static unsafe (NativePlan Native, SpawnArgs Args) NativeSpawn(SpawnPlan plan, HostContext host, LaunchHooks? hooks, SafeFd channel, SafeFd childEnd, SafeFd? statusWrite)
    {
        // husk-init is needed only where the plan forks, or waits in its gate (husk-runtime's create).
        int initFd = plan.Ops.Any(o => o.Kind == OpKind.Fork || (o.Kind == OpKind.Exec && (o.Flags & OpFlags.ExecInit) != 0)) ? InitImage.Value.Fd : -1;
        var native = new NativePlan(plan, statusWrite?.Fd ?? -1);
        var args = new SpawnArgs
        {
            CloneFlags = plan.CloneFlags,
            Ops = (ulong)native.Ops,
            OpCount = (uint)native.Count,
            CgroupFd = hooks?.Cgroup?.Fd ?? -1,
            InitFd = initFd,
            Flags = (plan.HasMounts ? SpawnMounts : 0) | (plan.Detached ? SpawnDetached : 0) | (plan.ContinuesCaller ? SpawnContinue : 0),
            HostMountNamespace = host.MountNamespace,
            Channel = childEnd.Fd,
            ChannelPeer = channel.Fd,
        };
        return (native, args);
    }

    /// <summary>Clones the child here, on a spawn thread: the task ends once the child has exec'd (it borrows our memory until then).</summary>
    private static unsafe Task<SpawnResult> StartHere(SpawnPlan plan, HostContext host, LaunchHooks? hooks, SafeFd channel, SafeFd childEnd, SafeFd? statusWrite)
    {
        if (plan.ContinuesCaller)
            throw new InvalidOperationException("a plan the caller continues in is cloned by its caller (ContinuingLaunch)");
        var (native, args) = NativeSpawn(plan, host, hooks, channel, childEnd, statusWrite);
        // The spawn thread sleeps in clone3 until the child execs; the caller serves the channel.
        return SpawnThread.Run(() =>
        {
            using (native)
            {
                var r = Spawn(args);
                // The child has its own copies now: ours must go, or the channel would never reach EOF.
                childEnd.Dispose();
                statusWrite?.Dispose();
                return r;
            }
        });
    }

    /// <summary>SIGKILL to the child whose hello gave <paramref name="pid"/>, through a pidfd opened now (if it is still there).</summary>
    private static void KillByPid(int pid)
    {
        using var doomed = PidfdOpen(pid);
        if (doomed is not null)
            PidfdSendSignal(doomed, Signals.SIGKILL);
    }

    /// <summary>The child's first message: its pid, in SCM_CREDENTIALS; null when the channel closed (clone failed).</summary>
    private static unsafe int? ReadHello(int channel)
    {
        var msg = ReceiveOne(channel, out int? credPid, out int? passedFd, out _);
        if (passedFd is not null)
            Close(passedFd.Value);
        if (msg is null)
            return null;
        if ((ReportKind)msg.Value.Kind != ReportKind.Hello || credPid is null)
            throw new SandboxSetupException("the sandbox sent an unexpected first message", Errno.EINVAL) { Stage = SandboxSetupStage.Start };
        return credPid;
    }

    private static unsafe SpawnResult Spawn(SpawnArgs args)
    {
        SpawnResult r;
        HuskSpawn(&args, &r);
        return r;
    }

    private sealed class Outcome
    {
        public int? SandboxPid;
        public SandboxSetupException? Error;
        public SafeFd? Listener;
        public SafeFd? Terminal;
        public SafeFd? Storage;
        public string? WorkingDirectory;
    }

    /// <summary>
    /// One message from the child, with the pid and descriptor it carries and any text after the
    /// header (DETAIL reports); null at end of stream.
    /// </summary>
    internal static unsafe Report? ReceiveOne(int channel, out int? credPid, out int? passedFd, out string? text)
    {
        Span<byte> buffer = stackalloc byte[4096 + 64];
        Span<byte> control = stackalloc byte[128];
        while (true)
        {
            credPid = null;
            passedFd = null;
            text = null;
            nint n = ReceiveMessage(channel, buffer, control, MSG_CMSG_CLOEXEC, out int controlLength);
            // A child that exits with a message of ours unread (the go byte, an idmapped tree) resets
            // the channel, and a seqpacket socket reports the reset before the messages still queued:
            // its last report, the one saying why it failed, comes with the next call.
            if (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.ECONNRESET)
                continue;
            if (n < 0)
                throw SyscallException.FromLastError("recvmsg", "sandbox channel");
            if (n == 0)
                return null;
            // Control messages: credentials carry a pid, rights carry a descriptor.
            var messages = new ControlMessages(control[..controlLength]);
            while (messages.MoveNext(out int level, out int type, out var data))
            {
                if (level == SOL_SOCKET && type == SCM_CREDENTIALS && data.Length >= sizeof(UCred))
                    credPid = MemoryMarshal.Read<UCred>(data).Pid;
                else if (level == SOL_SOCKET && type == SCM_RIGHTS && data.Length >= sizeof(int))
                    passedFd = MemoryMarshal.Read<int>(data);
            }
            if (n < sizeof(Report))
            {
                if (passedFd is not null)
                    Close(passedFd.Value);
                continue;
            }
            if (n > sizeof(Report))
                text = Encoding.UTF8.GetString(buffer[sizeof(Report)..(int)n]);
            return MemoryMarshal.Read<Report>(buffer);
        }
    }

    /// <summary>Reads the child's messages until every child-side copy of the channel is closed by exec.</summary>
    private static unsafe Outcome ReadReports(int channel, SpawnPlan plan, LaunchHooks? hooks, int childPid, Network.NetworkSession? network)
    {
        var outcome = new Outcome();
        string? detail = null;
        int detailOp = -1;
        while (ReceiveOne(channel, out int? credPid, out int? passedFd, out string? text) is { } report)
        {
            var kind = (ReportKind)report.Kind;
            switch (kind)
            {
                case ReportKind.Pid when credPid is not null:
                    outcome.SandboxPid = credPid;
                    hooks?.SandboxPidKnown?.Invoke(credPid.Value);
                    break;
                case ReportKind.Listener when passedFd is not null:
                    outcome.Listener = new SafeFd(passedFd.Value);
                    hooks?.ListenerReceived?.Invoke(outcome.Listener);
                    break;
                case ReportKind.Terminal when passedFd is not null:
                    outcome.Terminal = new SafeFd(passedFd.Value);
                    break;
                case ReportKind.Storage when passedFd is not null:
                    outcome.Storage = new SafeFd(passedFd.Value);
                    break;
                case ReportKind.Socket when passedFd is not null && network is not null && report.Op >= 0 && report.Op < plan.Ops.Count
                                            && plan.Ops[report.Op].Kind == OpKind.NetSocket:
                    network.Receive((Network.SocketRole)plan.Ops[report.Op].Index, new SafeFd(passedFd.Value));
                    passedFd = null;
                    break;
                case ReportKind.Chdir when report.Op >= 0 && report.Op < plan.Ops.Count && plan.Ops[report.Op].Strings is { } candidates
                                           && report.Value >= 0 && report.Value < candidates.Length:
                    outcome.WorkingDirectory = candidates[report.Value];
                    break;
                case ReportKind.Detail:
                    detail = text;
                    detailOp = report.Op;
                    break;
                case ReportKind.Sync:
                    // A hook that throws leaves the child waiting: the caller's cleanup kills it.
                    if (report.Op >= 0 && report.Op < plan.Ops.Count && plan.Ops[report.Op].A == SpawnPlanner.SyncIdMaps)
                        WriteIdMaps(plan.IdMaps, childPid);
                    else
                        hooks?.Paused?.Invoke(outcome.SandboxPid ?? childPid);
                    byte go = 1;
                    if (Send(channel, &go, 1, MSG_NOSIGNAL) != 1)
                        throw new SandboxSetupException("husk: the sandbox died while paused", (Errno)Marshal.GetLastPInvokeError()) { Stage = SandboxSetupStage.Start };
                    break;
                case ReportKind.Error:
                    outcome.Error ??= Describe(plan, report, detailOp == report.Op ? detail : null);
                    break;
            }
            if (passedFd is not null && kind is not (ReportKind.Listener or ReportKind.Terminal or ReportKind.Storage))
                Close(passedFd.Value);
        }
        return outcome;
    }

    /// <summary>The exception for the child's error report: the op it names, the step, the errno, and what the engine says of it.</summary>
    internal static SandboxSetupException Describe(SpawnPlan plan, Report report, string? detail)
    {
        var errno = (Errno)report.Error;
        var step = (SetupStep)report.Step;
        PlannedOp? op = report.Op >= 0 && report.Op < plan.Ops.Count ? plan.Ops[report.Op] : null;
        string? option = op?.OptionDescriptions is { } opts && step == SetupStep.Option && report.Value >= 0 && report.Value < opts.Length
            ? opts[report.Value]
            : null;
        string message = FormatError(op, step, errno, option, detail);
        return new SandboxSetupException(message, errno, op, step, option) { Detail = detail };
    }

    /// <summary>The engine's one-line message for a failed op (no program name: front doors add theirs).</summary>
    internal static string FormatError(PlannedOp? op, SetupStep step, Errno errno, string? option, string? detail = null)
    {
        string err = SyscallException.Describe(errno);
        if (op is null)
            return $"sandbox setup: {err}";
        string what = op.Description;
        // The working directory is one path, already named in the description.
        string text = op.Kind == OpKind.Chdir ? $"{what}: {err}" : op.Kind == OpKind.Run ? RunFailure(op, step, err, detail) : step switch
        {
            SetupStep.Source => $"{what}: can't find source {op.S1 ?? "fd " + op.Fd}: {err}",
            SetupStep.Destination => $"{what}: destination {op.S2}: {err}",
            SetupStep.Parents => $"{what}: can't create the parents of {op.S2}: {err}",
            SetupStep.Attributes => $"{what}: can't set mount flags: {err}",
            SetupStep.Data => $"{what}: can't write the data: {err}",
            SetupStep.Option => $"{what}: option {option}: {err}",
            SetupStep.Exists when detail is not null => $"{what}: a different symlink already exists there (to {detail})",
            SetupStep.Exists => $"{what}: a different file already exists there",
            SetupStep.Race => $"{what}: the mounted file is not the one the descriptor names (it was replaced)",
            SetupStep.Namespace => $"{what}: refusing to mount outside a new mount namespace",
            SetupStep.Init => $"starting husk-init: {err}",
            _ when op.Kind == OpKind.Exec => $"{what}: {err}",
            _ => $"{what}: {err}",
        };
        return text + Hint(op, errno);
    }

    /// <summary>A host tool the stage ran in the sandbox's network namespace failed: its own words, or why it did not start.</summary>
    private static string RunFailure(PlannedOp op, SetupStep step, string err, string? detail)
    {
        string tool = Path.GetFileName(op.S1 ?? "");
        if (step == SetupStep.Data && detail is { Length: > 0 })
            return $"{op.Description}: {tool}: {detail.Split('\n')[0].Trim()}";
        return step == SetupStep.Source ? $"{op.Description}: starting {op.S1}: {err}" : $"{op.Description}: {tool}: {err}";
    }

    private static string Hint(PlannedOp op, Errno errno)
    {
        if (op.Kind == OpKind.Mount && op.S1 == "proc" && errno == Errno.EPERM)
            return " (the host's /proc is partly masked, as in most containers: run on the host, or give the container an unmasked /proc)";
        if (op.Kind == OpKind.Mount && op.S1 == "overlay" && errno == Errno.ELOOP)
            return " (overlay directories may not overlap)";
        if (op.Kind == OpKind.Mount && op.S1 == "overlay" && errno == Errno.EINVAL)
            return " (upper and work must be separate directories on one filesystem, not inside each other; overlayfs in a user namespace needs Linux 5.11 or later)";
        if (op.Kind == OpKind.Mount && op.S1 == "overlay" && errno == Errno.EPERM)
            return " (this kernel may not allow overlayfs in a user namespace: it needs Linux 5.11 or later)";
        return "";
    }

    private static SandboxSetupException CloneFailure(Errno errno, ulong flags)
    {
        bool userns = (flags & Clone.CLONE_NEWUSER) != 0;
        string msg = errno switch
        {
            Errno.ENOSPC => "creating namespaces failed: the nesting depth or a /proc/sys/user/max_*_namespaces limit is exceeded (raise user.max_user_namespaces)",
            Errno.EPERM or Errno.EACCES when userns => "creating a user namespace was refused: " + UserNamespaceHint(),
            Errno.EINVAL when userns => "this kernel does not support user namespaces (CONFIG_USER_NS): Husk needs them",
            _ => $"creating the sandbox process failed: {SyscallException.Describe(errno)}",
        };
        return new SandboxSetupException(msg, errno) { Stage = SandboxSetupStage.Clone };
    }

    /// <summary>Why unprivileged user namespaces are unavailable here, and the fix.</summary>
    internal static string UserNamespaceHint()
    {
        if (ReadSysctl("kernel/apparmor_restrict_unprivileged_userns") == "1")
            return "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later): install the profile from docs/apparmor/husk, or run 'sysctl kernel.apparmor_restrict_unprivileged_userns=0'";
        if (ReadSysctl("kernel/unprivileged_userns_clone") == "0")
            return "unprivileged user namespaces are disabled: run 'sysctl kernel.unprivileged_userns_clone=1'";
        if (ReadSysctl("user/max_user_namespaces") == "0")
            return "user.max_user_namespaces is 0: run 'sysctl user.max_user_namespaces=15000'";
        return "this system does not allow unprivileged user namespaces (a container's seccomp profile or an LSM may block them)";
    }

    private static string? ReadSysctl(string name)
    {
        try
        {
            return File.ReadAllText("/proc/sys/" + name).Trim();
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static void WriteIdMaps(IdMapPlan maps, int pid)
    {
        switch (maps.Kind)
        {
            case IdMapKind.None:
                return;
            case IdMapKind.Write:
                if (maps.DenySetgroups)
                    WriteProcFile(pid, "setgroups", "deny");
                WriteProcFile(pid, "gid_map", maps.GidMap);
                WriteProcFile(pid, "uid_map", maps.UidMap);
                return;
            case IdMapKind.Helper:
                RunHelper("newgidmap", pid, maps.GidMap);
                RunHelper("newuidmap", pid, maps.UidMap);
                return;
        }
    }

    private static void WriteProcFile(int pid, string name, string content)
    {
        string path = $"/proc/{pid}/{name}";
        int err = TryOpen(path, O_WRONLY, out var fd);
        if (err == 0)
        {
            using (fd)
            {
                byte[] data = Encoding.ASCII.GetBytes(content);
                unsafe
                {
                    fixed (byte* p = data)
                    {
                        if (Write(fd!.Fd, p, (nuint)data.Length) == data.Length)
                            return;
                    }
                }
                err = Marshal.GetLastPInvokeError();
            }
        }
        string hint = (Errno)err is Errno.EPERM or Errno.EACCES ? ": " + UserNamespaceHint() : "";
        throw new SandboxSetupException($"setting up the {name.Replace('_', ' ')} failed: {SyscallException.Describe((Errno)err)}{hint}", (Errno)err)
        {
            Stage = SandboxSetupStage.IdMapping,
            RoleOverride = name switch { "setgroups" => SetupRole.Setgroups, "gid_map" => SetupRole.GidMap, _ => SetupRole.UidMap },
        };
    }

    private static void RunHelper(string tool, int pid, string map)
    {
        var psi = new ProcessStartInfo(tool) { UseShellExecute = false, RedirectStandardError = true };
        psi.ArgumentList.Add(pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (string part in map.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            psi.ArgumentList.Add(part);
        Process proc;
        try
        {
            proc = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SandboxSetupException($"--map-subids needs {tool} (Debian package uidmap): {ErrorText.Reason(e)}", Errno.ENOENT) { Stage = SandboxSetupStage.IdMapping, RoleOverride = tool == "newgidmap" ? SetupRole.GidMap : SetupRole.UidMap };
        }
        string stderr = proc.StandardError.ReadToEnd().Trim();
        proc.WaitForExit();
        if (proc.ExitCode != 0)
            throw new SandboxSetupException($"{tool} failed: {stderr}", Errno.EPERM) { Stage = SandboxSetupStage.IdMapping, RoleOverride = tool == "newgidmap" ? SetupRole.GidMap : SetupRole.UidMap };
    }
}
