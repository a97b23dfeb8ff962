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
