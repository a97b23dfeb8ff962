using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Waiting for and signalling children through pidfds.</summary>
internal static partial class Interop
{
    internal const int P_PIDFD = 3;
    internal const int WEXITED = 4;
    internal const int WNOHANG = 1;
    internal const int __WALL = 0x40000000;

    internal const int CLD_EXITED = 1;
    internal const int CLD_KILLED = 2;
    internal const int CLD_DUMPED = 3;

    private static readonly bool IsArm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    private static long SysWaitid => IsArm64 ? 95 : 247;
    private const long SysPidfdSendSignal = 424;
    private const long SysPidfdOpen = 434;

    internal const int PR_SET_PDEATHSIG = 1;

    [LibraryImport(Libraries.Libc, EntryPoint = "prctl", SetLastError = true)]
    internal static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary>_exit(2): ends the process at once, running nothing of the runtime's.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "_exit")]
    internal static partial void ExitNow(int status);

    [LibraryImport(Libraries.Libc, EntryPoint = "getppid")]
    internal static partial int GetPpid();

    [StructLayout(LayoutKind.Sequential, Size = 128)]
    internal struct SigInfo
    {
        public int Signo;
        public int Errno;
        public int Code;
        private int _pad;
        public int Pid;
        public int Uid;
        public int Status;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeVal
    {
        public long Seconds;
        public long Microseconds;

        public readonly TimeSpan ToTimeSpan() => TimeSpan.FromTicks(Seconds * TimeSpan.TicksPerSecond + Microseconds * 10);
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct RUsage
    {
        public TimeVal UserTime;
        public TimeVal SystemTime;
        public long MaxRss;
        public long IxRss;
        public long IdRss;
        public long IsRss;
        public long MinFlt;
        public long MajFlt;
        public long NSwap;
        public long InBlock;
        public long OuBlock;
        public long MsgSnd;
        public long MsgRcv;
        public long NSignals;
        public long NVCsw;
        public long NIvCsw;
    }

    /// <summary>waitid(P_PIDFD) with the rusage argument glibc's wrapper hides.</summary>
    internal static unsafe int WaitPidfd(SafePidfd pidfd, int options, out SigInfo info, out RUsage usage)
    {
        SigInfo si = default;
        RUsage ru = default;
        bool added = false;
        try
        {
            pidfd.DangerousAddRef(ref added);
            while (true)
            {
                long r = Syscall5(SysWaitid, P_PIDFD, pidfd.Fd, (long)&si, options | __WALL, (long)&ru);
                if (r == 0)
                    break;
                int e = Marshal.GetLastPInvokeError();
                if (e == (int)Errno.EINTR)
                    continue;
                info = default;
                usage = default;
                return e;
            }
        }
        finally
        {
            if (added)
                pidfd.DangerousRelease();
        }
        info = si;
        usage = ru;
        return 0;
    }

    internal static int PidfdSendSignal(SafePidfd pidfd, int signal)
    {
        bool added = false;
        try
        {
            pidfd.DangerousAddRef(ref added);
            long r = Syscall5(SysPidfdSendSignal, pidfd.Fd, signal, 0, 0, 0);
            return r == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        finally
        {
            if (added)
                pidfd.DangerousRelease();
        }
    }

    internal static SafePidfd? PidfdOpen(int pid)
    {
        long r = Syscall3(SysPidfdOpen, pid, 0, 0);
        return r < 0 ? null : new SafePidfd((int)r);
    }
}
