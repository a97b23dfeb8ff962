using System.Collections.Immutable;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Husk.Interop;
using Husk.Policy;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Ptrace;

namespace Husk.Tracing;

/// <summary>
/// The tracer: one dedicated OS thread (ptrace requests must come from the thread that attached)
/// that seizes the sandbox's first process before it is released and follows every fork, clone
/// and exec. The trace's seccomp filter stops only the chosen calls (PTRACE_EVENT_SECCOMP, one
/// stop at entry, where the inputs are read); the thread then resumes with PTRACE_SYSCALL for a
/// second stop at the return, reads the outputs, resumes the tracee and only then formats, so
/// the tracee runs while its line is written. PTRACE_SEIZE leaves no stop a program can see:
/// group-stops are kept with PTRACE_LISTEN. The stage's own processes are not reported, and
/// husk-init is let go when it is executed (it has no trace filter); the payload and everything
/// it starts are. Signals are reported and delivered as they were. With an observer (a traced
/// <see cref="SyscallCallback"/>) each of the payload's stops waits for its decision: a call's
/// entry, its return and a signal's delivery; a kill ends the tree before the call or the signal
/// acts (the tracee is never resumed).
/// </summary>
internal sealed class SyscallTracer : IDisposable
{
    private const int Options = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
        | PTRACE_O_TRACEEXEC | PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL;
    private const int SIGTRAP = 5, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;

    private readonly TraceSpec _spec;
    private readonly TraceWriter? _writer;
    private readonly Channel<SyscallEvent>? _events;
    private readonly SyscallCounter? _counter;
    private readonly bool _decode;
    private readonly Thread _thread;
    private readonly Dictionary<int, Tracee> _tracees = [];
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _seizeRequested = new();
    private readonly ManualResetEventSlim _seizeDone = new();
    private readonly long _startTimestamp = Stopwatch.GetTimestamp();
    private readonly DateTimeOffset _startTime = DateTimeOffset.Now;
    private int _seizePid;
    private Exception? _seizeError;
    private int _baselineFilters = -1;
    private int _namespaceLevel = -1;
    private volatile bool _eventsAbandoned;
    private volatile bool _eventsRead;
    private readonly SyscallCallback? _observer;
    private readonly ManualResetEventSlim _armed = new();
    private Resources.ResourceSupervisor? _supervisor;
    private Action? _kill;
    private volatile bool _disposed;

    private SyscallTracer(TraceSpec spec, TraceWriter? writer, SyscallCallback? observer)
    {
        _spec = spec;
        _writer = writer;
        _observer = observer;
        if (spec.Events)
            _events = Channel.CreateBounded<SyscallEvent>(new BoundedChannelOptions(spec.EventCapacity) { SingleWriter = true, SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        if (spec.Count)
            _counter = new SyscallCounter();
        _decode = writer is not null || spec.Events;
        _thread = new Thread(Run) { IsBackground = true, Name = "husk-tracer" };
    }

    /// <summary>Starts the tracer thread and opens the trace's output; throws <see cref="SyscallException"/> when the output file cannot be made.</summary>
    public static SyscallTracer Start(TraceSpec spec, SyscallCallback? observer = null)
    {
        TraceWriter? writer = spec.OutputFile is { } file ? TraceWriter.ToFile(file)
            : spec.Output is { } output ? TraceWriter.ToDescriptor(Descriptors.Number(output))
            : null;
        var tracer = new SyscallTracer(spec, writer, observer);
        tracer._thread.Start();
        return tracer;
    }

    /// <summary>The payload runs: the observer's decisions go ahead, and a kill ends the tree through the supervisor.</summary>
    public void Arm(Resources.ResourceSupervisor? supervisor, Action kill)
    {
        (_supervisor, _kill) = (supervisor, kill);
        _armed.Set();
    }

    /// <summary>
    /// The observer's decision on a stop of the payload's (which waits meanwhile). A failing
    /// observer kills: it must not let the call through.
    /// </summary>
    private SyscallDecision Observe(SyscallRequest request)
    {
        while (!_armed.Wait(200))
        {
            if (_disposed)
                return SyscallDecision.Kill;
        }
        try
        {
            return _observer!.Decide(request);
        }
        catch (Exception e)
        {
            _supervisor?.Exceeded(Verdict.InternalError, $"the syscall policy failed on {request.Name}: {ErrorText.Of(e)}");
            return SyscallDecision.Kill;
        }
    }

    /// <summary>A kill decision: the stopped tracee dies where it is (never resumed), and the tree with it.</summary>
    private void KillAt(Tracee t, string what)
    {
        _supervisor?.Exceeded(Verdict.RestrictedFunction, $"the syscall policy refused {what}");
        Interop.Interop.Kill(t.Tid, Signals.SIGKILL);
        _kill?.Invoke();
    }

    /// <summary>Completes when every traced process has gone (or seizing failed).</summary>
    public Task Completion => _completion.Task;

    /// <summary>The counts so far (all of them once <see cref="Completion"/> completed); empty when not counting.</summary>
    public ImmutableArray<SyscallCount> Counts => _counter?.Snapshot() ?? [];

    /// <summary>
    /// Seizes <paramref name="pid"/> (the sandbox's first process, not yet released) from the
    /// tracer thread and waits for it; throws <see cref="SandboxSetupException"/> when ptrace refuses.
    /// </summary>
    public void Seize(int pid)
    {
        _seizePid = pid;
        _seizeRequested.Set();
        _seizeDone.Wait();
        if (_seizeError is { } e)
            throw e;
    }

    /// <summary>The events, read once; they end when the trace ends.</summary>
    public async IAsyncEnumerable<SyscallEvent> ReadEvents([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_events is null)
            yield break;
        _eventsRead = true;
        await foreach (var e in _events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            yield return e;
    }

    /// <summary>
    /// Nobody will read the events (the run is being waited for and they were never read, or it is
    /// disposed): they are dropped from now on, so the program no longer waits for a reader.
    /// </summary>
    public void AbandonEvents(bool onlyIfUnread)
    {
        if (_events is null || onlyIfUnread && _eventsRead)
            return;
        _eventsAbandoned = true;
        while (_events.Reader.TryRead(out _))
        {
        }
    }

    private void Run()
    {
        _seizeRequested.Wait();
        int pid = _seizePid;
        if (pid <= 0)
        {
            Finish(); // disposed before anything was traced
            return;
        }
        if (PtraceRaw(PTRACE_SEIZE, pid, 0, Options) < 0)
        {
            var errno = (Errno)Marshal.GetLastPInvokeError();
            _seizeError = new SandboxSetupException(
                $"husk: tracing: ptrace refused to attach to the sandbox: {SyscallException.Describe(errno)}{Hint(errno)}", errno) { Stage = SandboxSetupStage.Start };
            _seizeDone.Set();
            Finish();
            return;
        }
        _baselineFilters = TraceeStatus.SeccompFilters(pid) ?? -1;
        _tracees[pid] = new Tracee(pid, TraceeRole.Stage);
        _seizeDone.Set();
        try
        {
            Loop();
        }
        finally
        {
            Finish();
        }
    }

    private static string Hint(Errno errno) => errno is Errno.EPERM or Errno.EACCES
        ? File.Exists("/proc/sys/kernel/yama/ptrace_scope") && File.ReadAllText("/proc/sys/kernel/yama/ptrace_scope").Trim() is "2" or "3"
            ? " (kernel.yama.ptrace_scope forbids it: run 'sysctl kernel.yama.ptrace_scope=1')"
            : " (a seccomp profile or an LSM around husk may forbid ptrace)"
        : "";

    private unsafe void Loop()
    {
        int status;
        RUsage ru = default;
        while (true)
        {
            int tid = Wait4(-1, &status, __WALL | __WNOTHREAD, &ru);
            if (tid < 0)
            {
                int e = Marshal.GetLastPInvokeError();
                if (e == (int)Errno.EINTR)
                    continue;
                return; // ECHILD: nothing is traced any more
            }
            long now = Stopwatch.GetTimestamp();
            Handle(tid, status, now, ru.SystemTime.ToTimeSpan().Ticks);
            if (tid == _seizePid && (status & 0xff) != 0x7f)
            {
                // The sandbox's first process has ended. Without a pid namespace it is the
                // supervisor's own child, and this wait reaped it: the supervisor's wait gets its
                // status from here, once its end is in the trace.
                _writer?.Flush();
                _firstEnded.TrySetResult((status, ru));
            }
        }
    }

    private readonly TaskCompletionSource<(int Status, RUsage Usage)> _firstEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The wait status and usage of the sandbox's first process once the tracer reaped it (it
    /// does when that process is the supervisor's own child, traced to its end: no pid
    /// namespace); a status of -1 when the tracer ended without reaping it.
    /// </summary>
    internal Task<(int Status, RUsage Usage)> FirstEnded => _firstEnded.Task;

    private void Handle(int tid, int status, long now, long systemTicks)
    {
        bool exited = (status & 0x7f) == 0;
        bool stopped = (status & 0xff) == 0x7f;
        if (!stopped)
        {
            if (_tracees.Remove(tid, out var gone))
                Ended(gone, exited ? (status >> 8) & 0xff : status & 0x7f, killed: !exited, now);
            return;
        }
        int sig = (status >> 8) & 0xff;
        int ev = (status >> 16) & 0xffff;
        if (!_tracees.TryGetValue(tid, out var t))
        {
            // A new thread or process whose parent's fork event has not been seen yet: hold it.
            _tracees[tid] = new Tracee(tid, TraceeRole.Stage) { LineageKnown = false, HeldStatus = status };
            return;
        }
        if (!t.LineageKnown)
        {
            t.HeldStatus = status;
            return;
        }
        switch (ev)
        {
            case PTRACE_EVENT_SECCOMP:
                SeccompStop(t, now, systemTicks);
                return;
            case PTRACE_EVENT_FORK or PTRACE_EVENT_VFORK or PTRACE_EVENT_CLONE:
                Forked(t);
                Resume(t, 0);
                return;
            case PTRACE_EVENT_EXEC:
                Executed(t, now);
                return;
            case PTRACE_EVENT_STOP:
                if (sig is SIGSTOP or SIGTSTP or SIGTTIN or SIGTTOU)
                {
                    // A group-stop: it stays stopped, as without a tracer, until SIGCONT.
                    PtraceRaw(PTRACE_LISTEN, t.Tid, 0, 0);
                    return;
                }
                Resume(t, 0);
                return;
        }
        if (sig == (SIGTRAP | 0x80))
        {
            SyscallExit(t, now, systemTicks);
            return;
        }
        // A signal being delivered: report it, then deliver it.
        if (t.Role == TraceeRole.Payload && _decode)
            Publish(SignalEvent(t, sig, now));
        if (t.Role == TraceeRole.Payload && _observer is not null)
        {
            var d = Observe(new SyscallRequest(t.Tid, SignalDecoder.Name(sig), sig, []) { Stop = SyscallStop.Signal, SignalCode = SignalCode(t.Tid) });
            if (d.Kind == SyscallDecisionKind.Kill)
            {
                KillAt(t, SignalDecoder.Name(sig));
                return;
            }
            if (d.Kind == SyscallDecisionKind.Deny)
                sig = 0; // dropped: the payload never sees it
        }
        Resume(t, sig);
    }

    /// <summary>The si_code of the signal a tracee is stopped for, or 0 when it cannot be read.</summary>
    private static unsafe int SignalCode(int tid)
    {
        byte* info = stackalloc byte[128];
        // siginfo_t: si_signo, si_errno, si_code.
        return PtraceRaw(PTRACE_GETSIGINFO, tid, 0, (nint)info) == 0 ? *(int*)(info + 8) : 0;
    }

    private void Resume(Tracee t, int sig) => PtraceRaw(t.InSyscall ? PTRACE_SYSCALL : PTRACE_CONT, t.Tid, 0, sig);

    private unsafe void SeccompStop(Tracee t, long now, long systemTicks)
    {
        PtraceSyscallInfo info;
        if (PtraceRaw(PTRACE_GET_SYSCALL_INFO, t.Tid, sizeof(PtraceSyscallInfo), (nint)(&info)) < 0 || info.Op != PTRACE_SYSCALL_INFO_SECCOMP)
        {
            Resume(t, 0);
            return;
        }
        if (info.RetData != TraceFilter.Marker)
        {
            // A filter of the caller's asked for a tracer: answer as if there were none (ENOSYS).
            Skip(t.Tid, Errno.ENOSYS);
            PtraceRaw(PTRACE_CONT, t.Tid, 0, 0);
            return;
        }
        int nr = (int)info.Nr;
        string name = Policy.SyscallTable.Native.Name(nr) ?? $"syscall_{nr}";
        if (t.Role == TraceeRole.Stage)
            t.Role = TraceeRole.Starting; // only the payload's process has the trace's filter
        // Before the payload runs, only its exec is reported: the stage's last calls are its own.
        t.Reported = t.Role == TraceeRole.Payload || name is "execve" or "execveat";
        if (!t.Reported)
        {
            PtraceRaw(PTRACE_CONT, t.Tid, 0, 0);
            return;
        }
        if (_observer is not null && t.Role == TraceeRole.Payload)
        {
            var d = Observe(new SyscallRequest(t.Tid, name, nr, [info.Args[0], info.Args[1], info.Args[2], info.Args[3], info.Args[4], info.Args[5]]));
            if (d.Kind == SyscallDecisionKind.Kill)
            {
                KillAt(t, name);
                return;
            }
            if (d.Kind == SyscallDecisionKind.Deny)
            {
                // Skipped: the call fails with the errno without running, and there is no return to see.
                Skip(t.Tid, d.Errno);
                PtraceRaw(PTRACE_CONT, t.Tid, 0, 0);
                return;
            }
        }
        t.Observed = _observer is not null && t.Role == TraceeRole.Payload;
        t.InSyscall = true;
        t.Number = nr;
        t.Name = name;
        for (int i = 0; i < 6; i++)
            t.Args[i] = info.Args[i];
        t.EntryTimestamp = now;
        t.EntrySystemTicks = systemTicks;
        if (_decode)
        {
            t.Signature = SyscallSignatures.Of(name);
            Array.Clear(t.Decoded);
            ArgumentDecoder.DecodeInputs(t.Signature, t.Args, new TraceeMemory(t.Tid), t.Decoded);
        }
        PtraceRaw(PTRACE_SYSCALL, t.Tid, 0, 0);
    }

    private unsafe void SyscallExit(Tracee t, long now, long systemTicks)
    {
        if (!t.InSyscall)
        {
            Resume(t, 0);
            return;
        }
        PtraceSyscallInfo info;
        bool known = PtraceRaw(PTRACE_GET_SYSCALL_INFO, t.Tid, sizeof(PtraceSyscallInfo), (nint)(&info)) >= 0 && info.Op == PTRACE_SYSCALL_INFO_EXIT;
        long ret = known ? info.ReturnValue : 0;
        bool failed = known && info.IsError != 0;
        if (_decode && t.Signature is { HasOutputs: true } signature)
            ArgumentDecoder.DecodeOutputs(signature, t.Args, ret, failed, new TraceeMemory(t.Tid), t.Decoded);
        t.InSyscall = false;
        if (t.Observed)
        {
            t.Observed = false;
            var d = Observe(new SyscallRequest(t.Tid, t.Name, t.Number, [.. t.Args]) { Stop = SyscallStop.Exit, ReturnValue = known ? ret : null });
            if (d.Kind == SyscallDecisionKind.Kill)
            {
                KillAt(t, t.Name);
                return;
            }
        }
        PtraceRaw(PTRACE_CONT, t.Tid, 0, 0);
        // The tracee runs again; the rest is bookkeeping.
        bool isExec = t.Name is "execve" or "execveat";
        if (t.Role != TraceeRole.Payload && !(isExec && !failed))
            return; // the stage's failed exec (a PATH search): not the payload's
        _counter?.Add(t.Number, failed, TimeSpan.FromTicks(systemTicks - t.EntrySystemTicks), Elapsed(t.EntryTimestamp, now));
        if (_decode)
            Publish(CallEvent(t, known ? failed ? -1 : ret : null, failed ? (Errno)(-ret) : null, now));
    }

    private unsafe void Forked(Tracee parent)
    {
        nint msg;
        if (PtraceRaw(PTRACE_GETEVENTMSG, parent.Tid, 0, (nint)(&msg)) < 0)
            return;
        int child = (int)msg;
        var role = parent.Role == TraceeRole.Payload ? TraceeRole.Payload : TraceeRole.Stage;
        if (!_tracees.TryGetValue(child, out var t))
            _tracees[child] = t = new Tracee(child, role);
        t.Role = role;
        t.LineageKnown = true;
        if (role == TraceeRole.Payload && _decode)
            NamespacePid(t); // while /proc still shows it
        if (t.HeldStatus is { } held)
        {
            // Its first stop came before this event: handle it now.
            t.HeldStatus = null;
            Handle(child, held, Stopwatch.GetTimestamp(), 0);
        }
    }

    private unsafe void Executed(Tracee t, long now)
    {
        nint msg;
        if (PtraceRaw(PTRACE_GETEVENTMSG, t.Tid, 0, (nint)(&msg)) >= 0 && (int)msg != t.Tid && _tracees.Remove((int)msg, out var former))
        {
            // A thread other than the leader executed: it takes the leader's id, and its call with it.
            former.Tid = t.Tid;
            former.NamespacePid = t.NamespacePid;
            _tracees[t.Tid] = former;
            t = former;
        }
        if (t.Role != TraceeRole.Payload)
        {
            int? filters = TraceeStatus.SeccompFilters(t.Tid);
            bool payload = t.Role == TraceeRole.Starting || filters is { } n && _baselineFilters >= 0 && n > _baselineFilters;
            if (!payload)
            {
                // husk-init (the stage becoming it): not traced, and it has no trace filter to stop it.
                _tracees.Remove(t.Tid);
                PtraceRaw(PTRACE_DETACH, t.Tid, 0, 0);
                return;
            }
            t.Role = TraceeRole.Payload;
            if (_decode)
                NamespacePid(t); // while /proc still shows it
        }
        if (_decode && ElfClass.ForeignOf(t.Tid) is { } abi)
        {
            Publish(new SyscallEvent
            {
                Kind = TraceEventKind.Notice,
                Pid = NamespacePid(t),
                HostPid = t.Tid,
                Number = 0,
                Name = $"husk: trace: pid {NamespacePid(t)} executes a {abi} program: its system calls are not traced (Husk decodes only the native ABI; the default seccomp profile kills such programs)",
                Time = Time(now),
            });
        }
        Resume(t, 0);
    }

    private void Ended(Tracee t, int code, bool killed, long now)
    {
        if (t.Role != TraceeRole.Payload)
            return;
        if (t.InSyscall && t.Reported)
        {
            // A call that never returned (exit_group, or the thread was killed inside it): shown,
            // not counted, as strace -c counts calls when they return.
            if (_decode)
                Publish(CallEvent(t, null, null, now));
        }
        if (!_decode)
            return;
        Publish(new SyscallEvent
        {
            Kind = killed ? TraceEventKind.Killed : TraceEventKind.Exited,
            Pid = NamespacePid(t),
            HostPid = t.Tid,
            Number = code,
            Name = killed ? SignalDecoder.Name(code) : "exited",
            Time = Time(now),
        });
    }

    private SyscallEvent CallEvent(Tracee t, long? ret, Errno? error, long now)
    {
        var signature = t.Signature!;
        int count = Math.Min(signature.Arguments.Length, 6);
        var args = ImmutableArray.CreateBuilder<SyscallArgument>(count);
        for (int i = 0; i < count; i++)
        {
            if (ArgumentDecoder.Shown(signature.Arguments[i], i, t.Args))
                args.Add(t.Decoded[i] ?? new SyscallArgument(t.Args[i], StringDecoder.Hex(t.Args[i])));
        }
        bool restart = error is { } e && ErrnoText.IsRestart((int)e);
        return new SyscallEvent
        {
            Kind = TraceEventKind.Syscall,
            Pid = NamespacePid(t),
            HostPid = t.Tid,
            Number = t.Number,
            Name = t.Name,
            Arguments = args.ToImmutable(),
            ReturnValue = restart ? null : ret,
            Error = error,
            Time = Time(t.EntryTimestamp),
            Duration = Elapsed(t.EntryTimestamp, now),
        };
    }

    private unsafe SyscallEvent SignalEvent(Tracee t, int sig, long now)
    {
        byte* info = stackalloc byte[128];
        var args = PtraceRaw(PTRACE_GETSIGINFO, t.Tid, 0, (nint)info) == 0
            ? ImmutableArray.Create(new SyscallArgument(0, SignalDecoder.Info(new ReadOnlySpan<byte>(info, 128))))
            : [];
        return new SyscallEvent
        {
            Kind = TraceEventKind.Signal,
            Pid = NamespacePid(t),
            HostPid = t.Tid,
            Number = sig,
            Name = SignalDecoder.Name(sig),
            Arguments = args,
            Time = Time(now),
        };
    }

    /// <summary>The thread's id in the sandbox's pid namespace: the level of the first payload process's own.</summary>
    private int NamespacePid(Tracee t)
    {
        if (t.NamespacePid != 0)
            return t.NamespacePid;
        var ids = TraceeStatus.NamespacePids(t.Tid);
        if (ids is null || ids.Length == 0)
            return t.NamespacePid = t.Tid;
        if (_namespaceLevel < 0)
            _namespaceLevel = ids.Length - 1;
        return t.NamespacePid = ids[Math.Min(_namespaceLevel, ids.Length - 1)];
    }

    private DateTimeOffset Time(long timestamp) => _startTime + Stopwatch.GetElapsedTime(_startTimestamp, timestamp);

    private static TimeSpan Elapsed(long from, long to) => Stopwatch.GetElapsedTime(from, to);

    private void Publish(SyscallEvent e)
    {
        _writer?.Write(TraceFormatter.Line(e, _spec.Format));
        if (_events is null || _eventsAbandoned)
            return;
        // A full buffer holds the tracer, and with it the traced program, until the reader catches up.
        while (!_events.Writer.TryWrite(e))
        {
            if (_eventsAbandoned)
                return;
            _events.Writer.WaitToWriteAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// Makes a stopped call fail with <paramref name="errno"/> without running (ENOSYS: as the
    /// kernel does for RET_TRACE with no tracer): the number becomes -1 and the return register
    /// holds -errno (the kernel leaves -ENOSYS there on x86_64, the first argument on aarch64).
    /// </summary>
    private static unsafe void Skip(int tid, Errno errno)
    {
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            const int OrigRaxOffset = 15 * 8, RaxOffset = 10 * 8;
            PtraceRaw(PTRACE_POKEUSER, tid, OrigRaxOffset, -1);
            if (errno != Errno.ENOSYS)
                PtraceRaw(PTRACE_POKEUSER, tid, RaxOffset, -(int)errno);
            return;
        }
        int none = -1;
        var io = new IoVec { Base = (nint)(&none), Length = sizeof(int) };
        PtraceRaw(PTRACE_SETREGSET, tid, NT_ARM_SYSTEM_CALL, (nint)(&io));
        const int NT_PRSTATUS = 1;
        ulong* regs = stackalloc ulong[34];
        var all = new IoVec { Base = (nint)regs, Length = 34 * sizeof(ulong) };
        if (PtraceRaw(PTRACE_GETREGSET, tid, NT_PRSTATUS, (nint)(&all)) == 0)
        {
            regs[0] = unchecked((ulong)-(long)errno);
            PtraceRaw(PTRACE_SETREGSET, tid, NT_PRSTATUS, (nint)(&all));
        }
    }

    private void Finish()
    {
        _firstEnded.TrySetResult((-1, default));
        _events?.Writer.TryComplete();
        _writer?.Dispose();
        _completion.TrySetResult();
    }

    /// <summary>Drops unread events; the thread ends by itself once the traced processes are gone.</summary>
    public void Dispose()
    {
        _disposed = true;
        AbandonEvents(onlyIfUnread: false);
        if (!_seizeRequested.IsSet)
        {
            // Never seized: let the thread end.
            _seizePid = -1;
            _seizeRequested.Set();
        }
    }
}
