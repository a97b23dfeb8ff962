using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Signal numbers and dispositions, and resource limits of the supervisor itself.</summary>
internal static partial class Interop
{
    /// <summary>Signal numbers (Linux on x86_64 and aarch64 shares them) and signal sets as masks.</summary>
    internal static class Signals
    {
        public const int SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6, SIGBUS = 7, SIGFPE = 8;
        public const int SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12, SIGPIPE = 13, SIGALRM = 14, SIGTERM = 15;
        public const int SIGSTKFLT = 16, SIGCHLD = 17, SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22;
        public const int SIGURG = 23, SIGXCPU = 24, SIGXFSZ = 25, SIGVTALRM = 26, SIGPROF = 27, SIGWINCH = 28, SIGIO = 29;
        public const int SIGPWR = 30, SIGSYS = 31;

        private static readonly string[] Names =
        [
            "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
            "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
        ];

        /// <summary>"SIGTERM" for 15; null for a signal without a name (the real-time ones).</summary>
        public static string? Name(int sig) => sig > 0 && sig < Names.Length ? "SIG" + Names[sig] : null;

        /// <summary>A signal given as a number (1 to 64) or a name, with or without "SIG", in any case; null when it is none.</summary>
        public static int? Parse(string s)
        {
            if (int.TryParse(s, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out int n))
                return n is > 0 and < 65 ? n : null;
            string name = s.ToUpperInvariant();
            if (name.StartsWith("SIG", StringComparison.Ordinal))
                name = name[3..];
            int i = Array.IndexOf(Names, name);
            return i > 0 ? i : null;
        }

        /// <summary>A signal's bit in a mask (bit N-1 for signal N, as HUSK_SIGNAL_BIT).</summary>
        public static ulong Bit(int sig) => 1UL << (sig - 1);

        /// <summary>The signals a mask names, in ascending order.</summary>
        public static IEnumerable<int> InMask(ulong mask)
        {
            for (int sig = 1; sig <= 64; sig++)
            {
                if ((mask & Bit(sig)) != 0)
                    yield return sig;
            }
        }

        /// <summary>
        /// The value .NET registers a handler with: its portable value where it has one (the runtime
        /// treats those specially, e.g. SIGTERM's default shutdown), else the raw number.
        /// </summary>
        public static PosixSignal ToPosixSignal(int sig) => sig switch
        {
            SIGHUP => PosixSignal.SIGHUP,
            SIGINT => PosixSignal.SIGINT,
            SIGQUIT => PosixSignal.SIGQUIT,
            SIGTERM => PosixSignal.SIGTERM,
            SIGCHLD => PosixSignal.SIGCHLD,
            SIGCONT => PosixSignal.SIGCONT,
            SIGWINCH => PosixSignal.SIGWINCH,
            SIGTTIN => PosixSignal.SIGTTIN,
            SIGTTOU => PosixSignal.SIGTTOU,
            SIGTSTP => PosixSignal.SIGTSTP,
            _ => (PosixSignal)sig,
        };

        /// <summary>The signal number behind a .NET signal value (portable or raw).</summary>
        public static int FromPosixSignal(PosixSignal signal) => signal switch
        {
            PosixSignal.SIGHUP => SIGHUP,
            PosixSignal.SIGINT => SIGINT,
            PosixSignal.SIGQUIT => SIGQUIT,
            PosixSignal.SIGTERM => SIGTERM,
            PosixSignal.SIGCHLD => SIGCHLD,
            PosixSignal.SIGCONT => SIGCONT,
            PosixSignal.SIGWINCH => SIGWINCH,
            PosixSignal.SIGTTIN => SIGTTIN,
            PosixSignal.SIGTTOU => SIGTTOU,
            PosixSignal.SIGTSTP => SIGTSTP,
            var raw => (int)raw,
        };
    }

    internal const int RLIMIT_CORE = 4;

    [LibraryImport(Libraries.Libc, EntryPoint = "signal", SetLastError = true)]
    private static partial nint SignalRaw(int sig, nint handler);

    /// <summary>Puts a signal back to the kernel's default action (undoing the runtime's handler).</summary>
    internal static void DefaultSignalAction(int sig) => SignalRaw(sig, 0 /* SIG_DFL */);

    /// <summary>
    /// Blocks a signal on the calling thread only. A thread writing to a pipe whose reader left
    /// then gets EPIPE, with SIGPIPE left pending on it, instead of the host process dying of it.
    /// </summary>
    internal static unsafe void BlockSignalOnThisThread(int sig)
    {
        // glibc's sigset_t is 128 bytes; the first word holds signals 1-64.
        ulong* set = stackalloc ulong[16];
        for (int i = 0; i < 16; i++)
            set[i] = 0;
        set[0] = 1UL << (sig - 1);
        PthreadSigmask(0 /* SIG_BLOCK */, set, null); // Interop.Terminal.cs
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "setrlimit", SetLastError = true)]
    private static unsafe partial int SetRLimitRaw(int resource, RLimit* limit);

    [LibraryImport(Libraries.Libc, EntryPoint = "getrlimit", SetLastError = true)]
    private static unsafe partial int GetRLimitRaw(int resource, RLimit* limit);

    /// <summary>Lowers the soft limit of a resource, keeping the hard one.</summary>
    internal static unsafe void LowerSoftLimit(int resource, ulong value)
    {
        RLimit l;
        if (GetRLimitRaw(resource, &l) != 0)
            return;
        l.Current = Math.Min(l.Current, value);
        SetRLimitRaw(resource, &l);
    }
}
