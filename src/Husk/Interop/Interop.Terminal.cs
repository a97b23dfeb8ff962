using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Pseudo-terminals and terminal modes, for --tty.</summary>
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

    [LibraryImport(Libraries.Libc, EntryPoint = "tcgetpgrp", SetLastError = true)]
    private static partial int TcGetPgrp(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "tcsetpgrp", SetLastError = true)]
    private static partial int TcSetPgrp(int fd, int pgrp);

    [LibraryImport(Libraries.Libc, EntryPoint = "pthread_sigmask")]
    private static unsafe partial int PthreadSigmask(int how, ulong* set, ulong* old);

    /// <summary>
    /// Makes this process's group the foreground one of the terminal on <paramref name="fd"/> again,
    /// after a payload sharing the terminal took it (an interactive shell in a pid namespace cannot
    /// give it back: our group is not visible there). SIGTTOU is blocked meanwhile, so a background
    /// caller may do it. False when the descriptor is no terminal or it failed.
    /// </summary>
    internal static unsafe bool TakeTerminalForeground(int fd)
    {
        if (IsATty(fd) != 1)
            return false;
        int mine = GetPgrp();
        if (TcGetPgrp(fd) == mine)
            return true;
        const int SIG_BLOCK = 0, SIG_SETMASK = 2;
        ulong* set = stackalloc ulong[16];
        ulong* old = stackalloc ulong[16];
        new Span<ulong>(set, 16).Clear();
        set[0] = Signals.Bit(Signals.SIGTTOU);
        PthreadSigmask(SIG_BLOCK, set, old);
        int r = TcSetPgrp(fd, mine);
        PthreadSigmask(SIG_SETMASK, old, null);
        return r == 0;
    }

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
