using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Pseudo-terminals, terminal modes and foreground process groups.</summary>
internal static partial class Interop
{
    internal const uint TIOCGWINSZ = 0x5413;
    internal const uint TIOCSWINSZ = 0x5414;
    internal const int TCSANOW = 0;

    [StructLayout(LayoutKind.Sequential)]
    internal struct WinSize
    {
        public ushort Rows;
        public ushort Cols;
        public ushort XPixel;
        public ushort YPixel;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "posix_openpt", SetLastError = true)]
    internal static partial int PosixOpenpt(int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "grantpt", SetLastError = true)]
    internal static partial int Grantpt(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "unlockpt", SetLastError = true)]
    internal static partial int Unlockpt(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "ptsname_r", SetLastError = true)]
    internal static unsafe partial int PtsnameR(int fd, byte* buf, nuint len);

    [LibraryImport(Libraries.Libc, EntryPoint = "ioctl", SetLastError = true)]
    internal static unsafe partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport(Libraries.Libc, EntryPoint = "tcgetattr", SetLastError = true)]
    internal static unsafe partial int TcGetAttr(int fd, void* termios);

    [LibraryImport(Libraries.Libc, EntryPoint = "tcsetattr", SetLastError = true)]
    internal static unsafe partial int TcSetAttr(int fd, int action, void* termios);

    /// <summary>The foreground process group of the terminal on <paramref name="fd"/>, or -1.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "tcgetpgrp", SetLastError = true)]
    internal static partial int TcGetPgrp(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "tcsetpgrp", SetLastError = true)]
    private static partial int TcSetPgrp(int fd, int pgrp);

    [LibraryImport(Libraries.Libc, EntryPoint = "getsid", SetLastError = true)]
    internal static partial int GetSid(int pid);

    [LibraryImport(Libraries.Libc, EntryPoint = "setpgid", SetLastError = true)]
    internal static partial int SetPgid(int pid, int pgid);

    /// <summary>Sends a signal to the calling thread (so a stop signal takes effect before it returns).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "raise")]
    internal static partial int Raise(int sig);

    [LibraryImport(Libraries.Libc, EntryPoint = "pthread_sigmask")]
    private static unsafe partial int PthreadSigmask(int how, ulong* set, ulong* old);

    /// <summary>
    /// Makes this process's group the foreground one of the terminal on <paramref name="fd"/> again,
    /// after a payload sharing the terminal took it (an interactive shell in a pid namespace cannot
    /// give it back: our group is not visible there). False when the descriptor is no terminal or it failed.
    /// </summary>
    internal static bool TakeTerminalForeground(int fd)
    {
        if (IsATty(fd) != 1)
            return false;
        int mine = GetPgrp();
        return TcGetPgrp(fd) == mine || SetTerminalForeground(fd, mine);
    }

    /// <summary>
    /// Makes <paramref name="pgrp"/> (of the caller's session) the foreground group of the terminal
    /// on <paramref name="fd"/>. SIGTTOU is blocked meanwhile, so a caller in the background may do it.
    /// </summary>
    internal static unsafe bool SetTerminalForeground(int fd, int pgrp)
    {
        const int SIG_BLOCK = 0, SIG_SETMASK = 2;
        ulong* set = stackalloc ulong[16];
        ulong* old = stackalloc ulong[16];
        new Span<ulong>(set, 16).Clear();
        set[0] = Signals.Bit(Signals.SIGTTOU);
        PthreadSigmask(SIG_BLOCK, set, old);
        int r = TcSetPgrp(fd, pgrp);
        PthreadSigmask(SIG_SETMASK, old, null);
        return r == 0;
    }

    /// <summary>Whether <paramref name="fd"/> is a terminal whose foreground group is this process's.</summary>
    internal static bool IsForegroundOf(int fd) => IsATty(fd) == 1 && TcGetPgrp(fd) == GetPgrp();

    /// <summary>
    /// Whether this process runs as a terminal's interactive job, whose foreground it may lend to a
    /// sandbox: standard input on a terminal whose foreground group is ours, and standard output on
    /// a terminal. In a pipeline (output into a pager) the other members share our group and must
    /// keep the terminal.
    /// </summary>
    internal static bool IsInteractiveJob() => IsForegroundOf(0) && IsATty(1) == 1;

    [LibraryImport(Libraries.Libc, EntryPoint = "cfmakeraw")]
    internal static unsafe partial void CfMakeRaw(void* termios);

    /// <summary>Opens a new pty pair: the master (ours) and the slave (the payload's).</summary>
    internal static unsafe (SafeFd Master, SafeFd Slave) OpenPty()
    {
        int master = PosixOpenpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
            throw SyscallException.FromLastError("posix_openpt");
        var m = new SafeFd(master);
        byte* name = stackalloc byte[128];
        if (Grantpt(master) != 0 || Unlockpt(master) != 0 || PtsnameR(master, name, 128) != 0)
        {
            m.Dispose();
            throw SyscallException.FromLastError("unlockpt");
        }
        string path = Marshal.PtrToStringUTF8((nint)name)!;
        return (m, Open(path, O_RDWR | O_NOCTTY));
    }
}
