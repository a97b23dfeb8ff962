using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Husk.Interop;
using Husk.Policy;
using Husk.Resources;
using static Husk.Interop.Interop;

namespace Husk.Tracing;

/// <summary>
/// Serves a sandbox's seccomp user-notification listener on a dedicated thread: each stopped
/// system call goes to the <see cref="SyscallCallback"/>, and its decision back to the kernel.
/// Kill ends the tree through the supervisor, which then judges RestrictedFunction.
/// </summary>
internal sealed class SyscallNotifier : IDisposable
{
    private const nuint SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100;
    private const nuint SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101;
    private const uint SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1;
    private const short POLLIN = 1, POLLERR = 8, POLLHUP = 0x10, POLLNVAL = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct Notif
    {
        public ulong Id;
        public uint Pid;
        public uint Flags;
        public int Nr;
        public uint Arch;
        public ulong InstructionPointer;
        public fixed ulong Args[6];
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Response
    {
        public ulong Id;
        public long Val;
        public int Error;
        public uint Flags;
    }

    private readonly SafeFd _listener;
    private readonly SyscallCallback _callback;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _armed = new();
    private ResourceSupervisor? _supervisor;
    private Action? _kill;
    private bool _payloadExecuted;
    private volatile bool _stopped;

    private SyscallNotifier(SafeFd listener, SyscallCallback callback)
    {
        _listener = listener;
        _callback = callback;
        _thread = new Thread(Serve) { IsBackground = true, Name = "husk-syscall-policy" };
    }

    /// <summary>Serves from now on: the stage's exec of the payload passes; anything else waits for <see cref="Arm"/>.</summary>
    public static SyscallNotifier Start(SafeFd listener, SyscallCallback callback)
    {
        var n = new SyscallNotifier(listener, callback);
        n._thread.Start();
        return n;
    }

    /// <summary>The payload runs: its calls go to the callback, and a kill ends the tree through the supervisor.</summary>
    public void Arm(ResourceSupervisor? supervisor, Action kill)
    {
        (_supervisor, _kill) = (supervisor, kill);
        _armed.Set();
    }

    private unsafe void Serve()
    {
        var table = SyscallTable.Native;
        while (!_stopped)
        {
            var pfd = new PollFd { Fd = _listener.Fd, Events = POLLIN };
            int r = Poll(&pfd, 1, 200);
            if (r < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                continue;
            if (r < 0 || (pfd.REvents & (POLLHUP | POLLERR | POLLNVAL)) != 0 && (pfd.REvents & POLLIN) == 0)
                return; // no process is left that the filter applies to
            if (r == 0)
                continue;
            Notif req = default;
            if (Ioctl(_listener.Fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
                continue; // the caller died meanwhile (ENOENT), or another wake-up
            var args = ImmutableArray.Create(req.Args[0], req.Args[1], req.Args[2], req.Args[3], req.Args[4], req.Args[5]);
            string name = table.Name(req.Nr) ?? req.Nr.ToString(System.Globalization.CultureInfo.InvariantCulture);
            SyscallDecision decision;
            bool exec = name is "execve" or "execveat";
            if (SharesOurMemory((int)req.Pid) || !_payloadExecuted && exec)
            {
                // The stage's own: what it calls once the filter is in, and the execs it tries (one
                // per directory of PATH) until one runs the payload; until it has exec'd it runs on
                // the supervisor's memory (CLONE_VM). A stage that copied it (a new time namespace)
                // is told by its first exec alone.
                _payloadExecuted |= exec;
                decision = SyscallDecision.Allow;
            }
            else if (!WaitArmed())
            {
                return;
            }
            else try
            {
                decision = _callback.Decide(new SyscallRequest((int)req.Pid, name, req.Nr, args));
            }
            catch (Exception e)
            {
                // A failing policy must not let the call through.
                _supervisor?.Exceeded(Verdict.InternalError, $"the syscall policy failed on {name}: {ErrorText.Of(e)}");
                decision = SyscallDecision.Kill;
            }
            var resp = new Response { Id = req.Id };
            switch (decision.Kind)
            {
                case SyscallDecisionKind.Allow:
                    resp.Flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
                    break;
                case SyscallDecisionKind.Deny:
                    resp.Error = -(int)decision.Errno;
                    break;
                default:
                    _supervisor?.Exceeded(Verdict.RestrictedFunction, $"the syscall policy refused {name}");
                    _kill?.Invoke();
                    resp.Error = -(int)Errno.EPERM;
                    break;
            }
            Ioctl(_listener.Fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
    }

    private readonly int _ownPid = GetPid();
    private readonly int? _kcmp = SyscallTable.Native.Number("kcmp");

    /// <summary>
    /// Whether <paramref name="pid"/> still shares the supervisor's address space: the stage before
    /// its exec. False once it exec'd, for any other process, and where the kernel has no kcmp
    /// (the stage is then told apart by its first exec alone).
    /// </summary>
    private bool SharesOurMemory(int pid) =>
        _kcmp is int nr && Syscall5(nr, _ownPid, pid, 1 /* KCMP_VM */, 0, 0) == 0;

    private bool WaitArmed()
    {
        while (!_armed.Wait(200))
        {
            if (_stopped)
                return false;
        }
        return true;
    }

    public void Dispose()
    {
        _stopped = true;
        if (Thread.CurrentThread != _thread)
            _thread.Join(TimeSpan.FromSeconds(1));
    }
}
