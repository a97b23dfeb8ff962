using System.Runtime.InteropServices;
using System.Diagnostics;
using Husk.Interop;
using Husk.Launch;
using Husk.Resources;
using static Husk.Interop.Interop;

namespace Husk;

/// <summary>
/// A running sandbox, held by pidfd. Signals go to the sandbox's first process (husk-init, which
/// forwards them to the payload, or the payload itself); waiting gives the payload's status.
/// </summary>
public sealed class SandboxProcess : IDisposable
{
    private readonly SafePidfd _pidfd;
    private readonly SafeFd? _status;
    private readonly object _gate = new();
    private TaskCompletionSource<SandboxExit>? _exitTask;
    private SandboxExit? _exit;

    internal SandboxProcess(SafePidfd pidfd, int childPid, int sandboxPid, SafeFd? status, SafeFd? listener, SafeFd? terminal = null)
    {
        TerminalMaster = terminal;
        _pidfd = pidfd;
        ChildPid = childPid;
        Pid = sandboxPid;
        _status = status;
        SeccompListener = listener;
    }

    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan? _wallTime;
    private ResourceSupervisor? _supervisor;
    private SandboxResult? _result;

    /// <summary>Supervision and the standard streams, set up by the launcher once the payload runs.</summary>
    internal void Attach(ResourceSupervisor? supervisor, Stream? stdin, Stream? stdout, Stream? stderr)
    {
        _supervisor = supervisor;
        StandardInput = stdin;
        StandardOutput = stdout;
        StandardError = stderr;
    }

    /// <summary>The payload's standard input when the spec made it a pipe (<see cref="StdioMode.Pipe"/>): write to it, close it for end of file.</summary>
    public Stream? StandardInput { get; private set; }

    /// <summary>
    /// The payload's standard output when the spec made it a pipe. Read it while the sandbox runs (a
    /// full pipe blocks the payload); what is read counts against the output limit, and the stream
    /// ends where the limit is reached.
    /// </summary>
    public Stream? StandardOutput { get; private set; }

    /// <summary>The payload's standard error when the spec made it a pipe; counted like <see cref="StandardOutput"/>.</summary>
    public Stream? StandardError { get; private set; }

    /// <summary>The backend enforcing this sandbox's limits ("cgroup2", "cgroup1", "rlimit"), or "none" when it is unsupervised.</summary>
    public string Backend => _supervisor?.Backend ?? "none";

    /// <summary>The pid (in the caller's pid namespace) of the sandbox's first process: its namespaces are the sandbox's.</summary>
    public int Pid { get; }

    /// <summary>The pid of the process Husk cloned (differs from <see cref="Pid"/> when joining a pid namespace).</summary>
    public int ChildPid { get; }

    /// <summary>The master side of the payload's pseudo-terminal (read its output, write its input), when the spec asked for one.</summary>
    public Stream? Terminal => TerminalMaster is null ? null : _terminalStream ??= new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(TerminalMaster.DangerousGetHandle(), ownsHandle: false), FileAccess.ReadWrite, 1);

    private FileStream? _terminalStream;

    internal SafeFd? TerminalMaster { get; }

    /// <summary>The seccomp user-notification listener, when the spec asked for one.</summary>
    internal SafeFd? SeccompListener { get; }

    /// <summary>Serves <see cref="SandboxSpec.SyscallCallback"/> while the sandbox runs.</summary>
    internal Tracing.SyscallNotifier? Notifier { get; set; }

    /// <summary>Traces the sandbox's system calls (<see cref="SandboxSpec.Trace"/>).</summary>
    internal Tracing.SyscallTracer? Tracer { get; set; }

    /// <summary>Every traced process ends with the sandbox (it has a pid namespace), so the result can wait for the trace's end.</summary>
    internal bool TraceEndsWithSandbox { get; set; }

    /// <summary>
    /// The traced system calls, signals and exits of the whole tree, as they happen, when the
    /// spec's <see cref="TraceSpec.Events"/> asked for them (otherwise none). A bounded buffer
    /// (<see cref="TraceSpec.EventCapacity"/>) lies between the tracer and the reader: while it
    /// is full the traced program waits, so a slow reader slows the program instead of filling
    /// memory. Read once, and start before waiting for the result: events no one has begun to
    /// read by then are dropped, so that the wait cannot stall the program. The sequence ends
    /// when the last traced process has gone.
    /// </summary>
    public IAsyncEnumerable<Tracing.SyscallEvent> Events => Tracer?.ReadEvents() ?? EmptyEvents();

    private static async IAsyncEnumerable<Tracing.SyscallEvent> EmptyEvents()
    {
        await Task.CompletedTask.ConfigureAwait(false);
        yield break;
    }

    /// <summary>
    /// The root tmpfs of the sandbox's build, open as a directory, when <see cref="RootTmpfs.KeepOpen"/>
    /// asked for it: layers kept there outlive the sandbox as long as this stays open.
    /// </summary>
    internal SafeFd? LayerStorage { get; set; }

    /// <summary>The supervisor's side of the sandbox's network (resolver, splice, NAT helper, log), when it has one.</summary>
    internal Network.NetworkSession? Network { get; set; }

    /// <summary>The cgroup of <see cref="SandboxSpec.Cgroup"/>, when one was made.</summary>
    internal Resources.CgroupPlacement? CgroupPlacement { get; set; }

    /// <summary>
    /// Lets go of a sandbox that outlives this process (<see cref="SandboxSpec.Detached"/>): its
    /// descriptors close, nothing is signalled or waited for. The supervisor's side of its network
    /// (sockets, helper, bridge lease, log) ends too: nothing of this process serves it afterwards.
    /// </summary>
    internal void Release()
    {
        lock (_gate)
            _disposed = true;
        _pidfd.Dispose();
        _status?.Dispose();
        TerminalMaster?.Dispose();
        SeccompListener?.Dispose();
        Network?.Dispose();
    }

    /// <summary>The walls the payload got (seccomp, Landlock, capabilities, no_new_privs), for processes that join it.</summary>
    internal AppliedPolicy? Policy { get; set; }

    /// <summary>The host overlay's layout (<see cref="HostOverlayFileSystem"/>): its root holds the changes after the run.</summary>
    internal FileSystem.HostOverlayLayout? Layout { get; set; }

    /// <summary>The image the root is made of (<see cref="ImageFileSystem"/>): its cached layers stay locked until this is disposed.</summary>
    internal Images.PreparedImage? Image { get; set; }

    /// <summary>
    /// After a <see cref="HostOverlayFileSystem"/> run with a capped layer: moves the layer out of the
    /// sandbox's storage into the root on disk, where review and commit find it. Call once the sandbox has exited.
    /// </summary>
    internal void MergeLayerStorage()
    {
        var storage = LayerStorage;
        LayerStorage = null;
        using (storage)
            Layout?.MergeStorage(storage);
    }

    /// <summary>Lets a capped layer's tmpfs go (it vanishes with the last descriptor).</summary>
    internal void DisposeLayerStorage()
    {
        LayerStorage?.Dispose();
        LayerStorage = null;
    }
    /// <summary>
    /// The directory the payload started in: the spec's, or when it named none, the caller's if the
    /// sandbox shows it, else $HOME, else / (a front door says so when it is not the caller's).
    /// </summary>
    public string? WorkingDirectory { get; internal init; }

    /// <summary>The caller's terminal while the sandbox holds its foreground (<see cref="SandboxSpec.ForegroundTerminal"/>).</summary>
    internal TerminalForeground? Foreground { get; init; }

    /// <summary>
    /// The sandbox is not our child but a pool template's (<see cref="SandboxPool"/>): it cannot be
    /// waited for here, and its end is the status pipe's first record (husk-init's, or the one the
    /// template writes when it reaps the run).
    /// </summary>
    internal bool Adopted { get; init; }

    /// <summary>True once the sandbox has exited and been reaped.</summary>
    public bool HasExited
    {
        get
        {
            lock (_gate)
                return _exit is not null;
        }
    }

    /// <summary>Sends a signal to the sandbox; false when it has already gone.</summary>
    public bool Signal(PosixSignal signal) => Signal(Signals.FromPosixSignal(signal));

    /// <summary>Sends a signal by its number (husk-init's kill-the-tree signal is no <see cref="PosixSignal"/>).</summary>
    internal bool Signal(int signal)
    {
        try
        {
            return PidfdSendSignal(_pidfd, signal) == 0;
        }
        catch (ObjectDisposedException)
        {
            // Disposed, so gone (Dispose kills a running sandbox): a policy thread that decided a
            // kill as the owner let go (pysandbox's memory watcher and a stopped call) finds nothing.
            return false;
        }
    }

    /// <summary>Kills the whole sandbox: SIGKILL to its first process (the pid namespace takes the rest) and to everything in its cgroup.</summary>
    public void Kill()
    {
        Signal(Signals.SIGKILL);
        _supervisor?.KillCgroup();
    }

    /// <summary>Blocks until the sandbox exits and returns its outcome: exit, usage and verdict.</summary>
    public SandboxResult WaitForResult() => Finish(WaitForExit());

    /// <summary>Waits for the outcome (exit, usage, verdict) without blocking a thread; cancellation kills the whole tree.</summary>
    public async Task<SandboxResult> WaitAsync(CancellationToken cancellationToken = default) =>
        Finish(await WaitForExitAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Judges the run once: the supervisor reads the usage and removes its cgroup; an unsupervised
    /// run gets the kernel's accounting and a verdict from its exit alone.
    /// </summary>
    private SandboxResult Finish(SandboxExit exit)
    {
        lock (_gate)
        {
            if (_result is not null)
                return _result;
            _wallTime ??= _clock.Elapsed;
        }
        SandboxResult result;
        if (_supervisor is not null)
        {
            result = _supervisor.Finish(exit);
        }
        else
        {
            var usage = new ResourceUsage { UserTime = exit.UserTime, SystemTime = exit.SystemTime, WallTime = _wallTime.Value, WrittenBytes = exit.WrittenBytes };
            var (verdict, message) = VerdictRules.Decide(exit, ResourceLimits.None, usage, null);
            result = new SandboxResult { Exit = exit, Usage = usage, Verdict = verdict, Message = message };
        }
        if (Tracer is { } tracer)
        {
            // Events nobody began to read would hold the program, and so this wait, forever.
            tracer.AbandonEvents(onlyIfUnread: true);
            if (TraceEndsWithSandbox)
                tracer.Completion.Wait();
            result = result with { SyscallCounts = tracer.Counts };
        }
        if (Network is { } network)
        {
            // The sandbox is gone: the connections it left end now; then nothing of its network stays.
            network.Finish();
            result = result with { Network = network.Activity() };
            network.Dispose();
        }
        lock (_gate)
        {
            if (_result is not null)
                return _result;
            _result = result;
        }
        // Only when someone listens: the verdict's name costs a reflection lookup on a cold start.
        var level = result.Verdict == Verdict.OK || result.Verdict == Verdict.RuntimeError ? Logging.LogLevel.Info : Logging.LogLevel.Warn;
        if (Log.On(level))
        {
            Log.Write(level, "exited",
                new Logging.LogField("status", (long)exit.ShellStatus), new Logging.LogField("signal", exit.Signal), new Logging.LogField("verdict", result.Verdict.ToString()),
                new Logging.LogField("backend", Backend));
        }
        return result;
    }

    /// <summary>Where the engine reports for this sandbox (the spec's sink).</summary>
    internal Logging.EngineLog Log { get; set; }

    /// <summary>Blocks until the sandbox exits and returns how the payload ended.</summary>
    public unsafe SandboxExit WaitForExit()
    {
        lock (_gate)
        {
            if (_exit is not null)
                return _exit;
        }
        // One waiter at a time: a second waitid on the pidfd would find it reaped (ECHILD), and a
        // second read of husk-init's status pipe nothing. The others take the first one's exit.
        lock (_waiting)
        {
            lock (_gate)
            {
                if (_exit is not null)
                    return _exit;
            }
            try
            {
                return WaitForExitHoldingTerminal();
            }
            finally
            {
                Foreground?.End();
            }
        }
    }

    private readonly object _waiting = new();

    private SandboxExit WaitForExitHoldingTerminal()
    {
        if (_status is not null && WaitForInitStatus(out var early))
        {
            // husk-init has the payload's status and is exiting: the kernel's teardown of the
            // sandbox's namespaces goes on without us (a background reap collects husk-init).
            SandboxExit exit;
            lock (_gate)
            {
                if (_exit is null)
                {
                    _exit = early;
                    _reapInBackground = !LeaveZombie;
                }
                exit = _exit;
            }
            Finish(exit);
            lock (_gate)
                _exitTask?.TrySetResult(exit);
            if (Adopted)
                Reaped(); // the template reaps it
            else if (!LeaveZombie)
                PidfdWatcher.Watch(_pidfd, Reap, inline: true); // an ended process: its reap cannot block
            return exit;
        }
        if (Adopted)
        {
            // The status pipe ended without a record: the template is gone, and the run with it.
            lock (_gate)
                _exit ??= new SandboxExit { Signal = Signals.SIGKILL };
            Finish(_exit);
            lock (_gate)
                _exitTask?.TrySetResult(_exit);
            return _exit;
        }
        int err;
        SigInfo info;
        RUsage usage;
        // Holding the terminal, a stop of the payload (its own child, without husk-init) is the supervisor's too.
        if (Tracer is { } tracer && !TraceEndsWithSandbox && tracer.FirstEnded.GetAwaiter().GetResult() is { Status: >= 0 } reaped)
        {
            // Our own child (no pid namespace), traced all its life: the tracer's wait is the
            // one that reaps it (ptrace gives a tracee of the parent's own thread group to the
            // tracer's wait), after it has seen its last call; ours would take its end from the
            // trace. The tracer kept its status for us.
            var (status, ru) = reaped;
            bool exited = (status & 0x7f) == 0;
            info = new SigInfo
            {
                Code = exited ? CLD_EXITED : (status & 0x80) != 0 ? CLD_DUMPED : CLD_KILLED,
                Status = exited ? (status >> 8) & 0xff : status & 0x7f,
            };
            usage = ru;
            err = 0;
        }
        else
        {
            while ((err = WaitPidfd(_pidfd, Foreground is null ? WEXITED : WEXITED | WSTOPPED, out info, out usage)) == 0 && info.Code == CLD_STOPPED)
                Foreground!.Stopped(info.Status);
        }
        lock (_gate)
        {
            if (_exit is not null)
                return _exit;
            if (err != 0)
                throw new SyscallException("waitid", $"pid {ChildPid}", (Errno)err);
            _exit = Interpret(info, usage);
        }
        Finish(_exit);
        lock (_gate)
            _exitTask?.TrySetResult(_exit);
        return _exit;
    }

    /// <summary>Waits without blocking a thread; cancellation kills the sandbox.</summary>
    public Task<SandboxExit> WaitForExitAsync(CancellationToken cancellationToken = default)
    {
        Task<SandboxExit> task;
        lock (_gate)
        {
            if (_exit is not null)
                return Task.FromResult(_exit);
            if (_exitTask is null)
            {
                _exitTask = new TaskCompletionSource<SandboxExit>(TaskCreationOptions.RunContinuationsAsynchronously);
                var tcs = _exitTask;
                void Complete()
                {
                    try
                    {
                        tcs.TrySetResult(WaitForExit());
                    }
                    catch (Exception e)
                    {
                        tcs.TrySetException(e);
                    }
                }
                // Holding the terminal, stops must be served while the sandbox runs, not only at its exit.
                if (Foreground is not null)
                    new Thread(Complete) { IsBackground = true, Name = "husk-foreground" }.Start();
                else
                    PidfdWatcher.Watch(Adopted ? _status! : _pidfd, Complete);
            }
            task = _exitTask.Task;
        }
        if (!cancellationToken.CanBeCanceled)
            return task;
        return WaitCancellable(task, cancellationToken);
    }

    private async Task<SandboxExit> WaitCancellable(Task<SandboxExit> task, CancellationToken ct)
    {
        using (ct.Register(Kill))
            return await task.ConfigureAwait(false);
    }

    private bool _reapInBackground;

    /// <summary>
    /// A command-line caller about to exit sets this: once husk-init has given the payload's
    /// status, its exit is not waited for (no watcher thread); the zombie goes with the caller.
    /// </summary>
    internal bool LeaveZombie { get; set; }

    private void Reap()
    {
        WaitPidfd(_pidfd, WEXITED, out _, out _);
        Reaped();
    }

    private void Reaped()
    {
        lock (_gate)
        {
            _reaped = true;
            if (_disposed)
                _pidfd.Dispose();
        }
    }

    private bool _reaped;
    private bool _disposed;

    /// <summary>Waits until husk-init writes the payload's status, or dies without writing it.</summary>
    private unsafe bool WaitForInitStatus(out SandboxExit exit)
    {
        exit = null!;
        bool a = false, b = false;
        try
        {
            _pidfd.DangerousAddRef(ref a);
            _status!.DangerousAddRef(ref b);
            // An adopted run's pidfd turns readable before its parent has reaped it and written
            // its end: only the status pipe tells.
            PollFd* fds = stackalloc PollFd[2];
            fds[0] = new PollFd { Fd = _status.Fd, Events = POLLIN };
            fds[1] = new PollFd { Fd = _pidfd.Fd, Events = POLLIN };
            while (Poll(fds, Adopted ? 1ul : 2ul, -1) < 0)
            {
                if (System.Runtime.InteropServices.Marshal.GetLastPInvokeError() != (int)Errno.EINTR)
                    return false;
            }
        }
        finally
        {
            if (a)
                _pidfd.DangerousRelease();
            if (b)
                _status!.DangerousRelease();
        }
        if (!TryReadInitStatus(out var st))
            return false;
        if (Foreground is not null && (st.WaitStatus & 0xff) == 0x7f)
        {
            // The payload stopped (husk-init reports it only while the sandbox holds the terminal).
            Foreground.Stopped((st.WaitStatus >> 8) & 0xff);
            return WaitForInitStatus(out exit);
        }
        exit = FromInitStatus(st);
        return true;
    }

    private static SandboxExit FromInitStatus(InitStatus st)
    {
        int raw = st.WaitStatus;
        int termSig = raw & 0x7f;
        return new SandboxExit
        {
            ExitCode = termSig == 0 ? (raw >> 8) & 0xff : null,
            Signal = termSig == 0 ? null : termSig,
            CoreDumped = (raw & 0x80) != 0,
            UserTime = TimeSpan.FromTicks(st.UserMicroseconds * 10),
            SystemTime = TimeSpan.FromTicks(st.SystemMicroseconds * 10),
            MaxResidentBytes = st.MaxRssKib * 1024,
            WrittenBytes = st.WrittenBytes >= 0 ? st.WrittenBytes : null,
            ReapedByInit = true,
        };
    }

    private SandboxExit Interpret(SigInfo info, RUsage usage)
    {
        // husk-init reports the payload's own status and its tree's usage.
        if (_status is not null && TryReadInitStatus(out var st))
        {
            return FromInitStatus(st);
        }
        bool exited = info.Code == CLD_EXITED;
        return new SandboxExit
        {
            ExitCode = exited ? info.Status : null,
            Signal = exited ? null : info.Status,
            CoreDumped = info.Code == CLD_DUMPED,
            UserTime = usage.UserTime.ToTimeSpan(),
            SystemTime = usage.SystemTime.ToTimeSpan(),
            MaxResidentBytes = usage.MaxRss * 1024,
        };
    }

    private unsafe bool TryReadInitStatus(out InitStatus status)
    {
        status = default;
        var handle = _status!;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            // husk-init writes before it exits, so the data is there now or never: do not block.
            var pfd = new PollFd { Fd = handle.Fd, Events = POLLIN };
            if (Poll(&pfd, 1, 0) <= 0 || (pfd.REvents & POLLIN) == 0)
                return false;
            InitStatus st;
            nint n = Read(handle.Fd, &st, (nuint)sizeof(InitStatus));
            if (n != sizeof(InitStatus) || st.Magic != InitMagic)
                return false;
            status = st;
            return true;
        }
        finally
        {
            if (added)
                handle.DangerousRelease();
        }
    }

    /// <summary>Releases the pidfd; a still-running sandbox is killed first (nothing outlives its owner).</summary>
    public void Dispose()
    {
        if (!HasExited && !_pidfd.IsClosed)
        {
            Kill();
            try
            {
                WaitForExit();
            }
            catch (SyscallException e) when (e.Errno == Errno.ECHILD)
            {
                // Reaped meanwhile by its background watcher: it is gone, which is all Dispose wants.
            }
        }
        Notifier?.Dispose(); // its thread may still kill through the pidfd: stop it first
        Foreground?.End();
        lock (_gate)
        {
            _disposed = true;
            // A background reap still needs the pidfd; it closes it when done.
            if (!_reapInBackground || _reaped)
                _pidfd.Dispose();
        }
        _status?.Dispose();
        _supervisor?.Dispose();
        StandardInput?.Dispose();
        StandardOutput?.Dispose();
        StandardError?.Dispose();
        Network?.Dispose();
        Tracer?.Dispose();
        SeccompListener?.Dispose();
        LayerStorage?.Dispose();
        Image?.Dispose();
        _terminalStream?.Dispose();
        TerminalMaster?.Dispose();
    }
}
