using System.Runtime.InteropServices;
using Husk.Cli.Run;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// What <c>run</c> and <c>exec</c> do in the foreground: wait for the container's process (a
/// child of husk-runtime until it exits), relaying a terminal it was given to ours, and forwarding
/// the signals the user sends us.
/// </summary>
internal static unsafe class OciTerminal
{
    /// <summary>The exit status of <paramref name="pid"/> (our child): its code, or 128+N when signal N killed it.</summary>
    public static int Wait(int pid)
    {
        using var pidfd = PidfdOpen(pid) ?? throw new OciRuntimeException("container not running");
        using var registrations = Forward(pidfd);
        int err = WaitPidfd(pidfd, WEXITED, out var info, out _);
        if (err != 0)
            throw new SyscallException("waitid", $"pid {pid}", (Errno)err);
        return info.Code == CLD_EXITED ? info.Status : 128 + info.Status;
    }

    /// <summary>Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the process while it is waited for.</summary>
    private static Registrations Forward(SafePidfd pidfd)
    {
        var list = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT })
        {
            list.Add(PosixSignalRegistration.Create(signal, ctx =>
            {
                ctx.Cancel = true;
                PidfdSendSignal(pidfd, Signals.FromPosixSignal(ctx.Signal));
            }));
        }
        return new Registrations(list);
    }

    private sealed class Registrations(List<PosixSignalRegistration> list) : IDisposable
    {
        public void Dispose()
        {
            foreach (var r in list)
                r.Dispose();
        }
    }

    /// <summary>Relays our terminal (raw while it lasts) to the container's until <paramref name="pid"/> exits; its status.</summary>
    public static int Relay(SafeFd master, int pid)
    {
        WinSize ws = default;
        if (Ioctl(1, TIOCGWINSZ, &ws) == 0 || Ioctl(0, TIOCGWINSZ, &ws) == 0)
            Ioctl(master.Fd, TIOCSWINSZ, &ws);
        byte* saved = stackalloc byte[TtyRunner.TermiosSize];
        bool raw = IsATty(0) == 1 && TtyRunner.MakeRaw(0, saved);
        int m = master.Fd;
        new Thread(() => TtyRunner.Pump(0, m)) { IsBackground = true, Name = "oci-tty-in" }.Start();
        var output = new Thread(() => TtyRunner.Pump(m, 1)) { IsBackground = true, Name = "oci-tty-out" };
        output.Start();
        try
        {
            return Wait(pid);
        }
        finally
        {
            output.Join(TimeSpan.FromSeconds(2));
            if (raw)
                TcSetAttr(0, TCSANOW, saved);
        }
    }
}
