using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Descriptor-relative file operations and extended attributes, for review and commit.</summary>
internal static partial class Interop
{
    internal const ulong RESOLVE_NO_MAGICLINKS = 0x02;
    internal const ulong RESOLVE_NO_SYMLINKS = 0x04;
    internal const ulong RESOLVE_BENEATH = 0x08;
    internal const int AT_REMOVEDIR = 0x200;
    internal const int RENAME_NOREPLACE = 1;
    internal const int XATTR_CREATE = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    private static long SysOpenat2 => 437; // the same on x86_64 and aarch64

    /// <summary>openat2; returns the fd or -errno.</summary>
    internal static unsafe int Openat2(int dirfd, string path, int flags, int mode, ulong resolve)
    {
        var how = new OpenHow { Flags = (ulong)(uint)(flags | O_CLOEXEC), Mode = (ulong)mode, Resolve = resolve };
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            long r = Syscall5(SysOpenat2, dirfd, (long)p, (long)&how, sizeof(OpenHow), 0);
            return r >= 0 ? (int)r : -Marshal.GetLastPInvokeError();
        }
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Openat(int dirfd, string path, int flags, int mode);

    [LibraryImport(Libraries.Libc, EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mkdirat(int dirfd, string path, int mode);

    [LibraryImport(Libraries.Libc, EntryPoint = "symlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Symlinkat(string target, int dirfd, string path);

    [LibraryImport(Libraries.Libc, EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Renameat2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unlinkat(int dirfd, string path, int flags);

    /// <summary>linkat(2); flags 0 links a final symlink itself, as tar's hard links mean.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "linkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Linkat(int olddirfd, string oldpath, int newdirfd, string newpath, int flags);

    internal const int LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4;

    /// <summary>flock(2): advisory whole-file locks, released when the last descriptor of the open file closes.</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "flock", SetLastError = true)]
    internal static partial int Flock(int fd, int operation);

    [LibraryImport(Libraries.Libc, EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint RealpathRaw(string path, nint resolved);

    [LibraryImport(Libraries.Libc, EntryPoint = "free")]
    private static partial void FreeRaw(nint p);

    /// <summary>realpath(3): the absolute path with every symlink resolved, or null when it does not exist.</summary>
    internal static string? Realpath(string path)
    {
        nint p = RealpathRaw(path, 0);
        if (p == 0)
            return null;
        string? result = Marshal.PtrToStringUTF8(p);
        FreeRaw(p);
        return result;
    }

    /// <summary>access(2): 0 when the real ids may use the path as <paramref name="mode"/> asks (1 = execute).</summary>
    [LibraryImport(Libraries.Libc, EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Access(string path, int mode);

    [LibraryImport(Libraries.Libc, EntryPoint = "mknodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mknodat(int dirfd, string path, int mode, ulong dev);

    [LibraryImport(Libraries.Libc, EntryPoint = "socket", SetLastError = true)]
    private static partial int SocketRaw(int domain, int type, int protocol);

    [LibraryImport(Libraries.Libc, EntryPoint = "bind", SetLastError = true)]
    private static unsafe partial int BindRaw(int fd, byte* addr, uint length);

    /// <summary>
    /// Creates a Unix socket file at <paramref name="path"/> by binding a datagram socket there and
    /// closing it (nothing listens on it); 0 or the errno.
    /// </summary>
    internal static unsafe int MakeUnixSocketFile(string path)
    {
        const int SOCK_DGRAM = 2;
        byte* addr = stackalloc byte[110];
        if (UnixAddress(path, addr) is not { } length)
            return (int)Errno.ENAMETOOLONG;
        int fd = SocketRaw(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return Marshal.GetLastPInvokeError();
        int r = BindRaw(fd, addr, length);
        int e = r == 0 ? 0 : Marshal.GetLastPInvokeError();
        Close(fd);
        return e;
    }

    private const int AF_UNIX = 1, SOCK_CLOEXEC = 0x80000;

    /// <summary>struct sockaddr_un for a path in <paramref name="addr"/> (110 bytes); its length, or null when the path is too long.</summary>
    private static unsafe uint? UnixAddress(string path, byte* addr)
    {
        byte[] name = System.Text.Encoding.UTF8.GetBytes(path);
        if (name.Length > 107)
            return null;
        new Span<byte>(addr, 110).Clear();
        addr[0] = AF_UNIX; // sa_family_t, little-endian on every architecture Husk builds for
        name.CopyTo(new Span<byte>(addr + 2, 108));
        return (uint)(2 + name.Length + 1);
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "connect", SetLastError = true)]
    private static unsafe partial int ConnectRaw(int fd, byte* addr, uint length);

    /// <summary>A stream socket connected to the Unix socket at <paramref name="path"/> (a console socket); throws naming the path.</summary>
    internal static unsafe SafeFd ConnectUnixStream(string path)
    {
        const int SOCK_STREAM = 1;
        byte* addr = stackalloc byte[110];
        if (UnixAddress(path, addr) is not { } length)
            throw new SyscallException("connect", path, Errno.ENAMETOOLONG);
        int fd = SocketRaw(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw SyscallException.FromLastError("socket", path);
        var socket = new SafeFd(fd);
        while (ConnectRaw(fd, addr, length) != 0)
        {
            int e = Marshal.GetLastPInvokeError();
            if (e == (int)Errno.EINTR)
                continue;
            socket.Dispose();
            throw new SyscallException("connect", path, (Errno)e);
        }
        return socket;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "lchown", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Lchown(string path, uint uid, uint gid);

    [LibraryImport(Libraries.Libc, EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Fchownat(int dirfd, string path, uint uid, uint gid, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "fchmod", SetLastError = true)]
    internal static partial int Fchmod(int fd, int mode);

    [LibraryImport(Libraries.Libc, EntryPoint = "fchmodat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Fchmodat(int dirfd, string path, int mode, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(int fd);

    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "futimens", SetLastError = true)]
    internal static unsafe partial int Futimens(int fd, TimeSpec* times);

    [LibraryImport(Libraries.Libc, EntryPoint = "utimensat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int Utimensat(int dirfd, string path, TimeSpec* times, int flags);

    /// <summary>Gives <paramref name="path"/> the access and modification times of <paramref name="st"/> (utimensat's flags).</summary>
    internal static unsafe int SetTimes(string path, in Statx st, int flags = 0)
    {
        TimeSpec* times = stackalloc TimeSpec[2];
        TimesOf(st, times);
        return Utimensat(AT_FDCWD, path, times, flags);
    }

    /// <summary>Gives the open file <paramref name="fd"/> the access and modification times of <paramref name="st"/>.</summary>
    internal static unsafe int SetTimes(int fd, in Statx st)
    {
        TimeSpec* times = stackalloc TimeSpec[2];
        TimesOf(st, times);
        return Futimens(fd, times);
    }

    private static unsafe void TimesOf(in Statx st, TimeSpec* times)
    {
        times[0] = new TimeSpec { Seconds = st.AtimeSec, Nanoseconds = st.AtimeNsec };
        times[1] = new TimeSpec { Seconds = st.MtimeSec, Nanoseconds = st.MtimeNsec };
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "readlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint ReadlinkatRaw(int dirfd, string path, byte* buf, nuint size);

    internal static unsafe string? Readlinkat(int dirfd, string path)
    {
        byte* buf = stackalloc byte[4096];
        nint n = ReadlinkatRaw(dirfd, path, buf, 4096);
        return n < 0 ? null : System.Text.Encoding.UTF8.GetString(buf, (int)n);
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxAt(int dirfd, string path, int flags, uint mask, out Statx buf);

    /// <summary>statx relative to a descriptor, not following a final symlink; 0 or the errno.</summary>
    internal static int TryStatAt(int dirfd, string path, out Statx st)
    {
        int r = StatxAt(dirfd, path, AT_SYMLINK_NOFOLLOW | (path.Length == 0 ? AT_EMPTY_PATH : 0), STATX_BASIC_STATS, out st);
        return r == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "lgetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint LGetXattr(string path, string name, byte* value, nuint size);

    [LibraryImport(Libraries.Libc, EntryPoint = "llistxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint LListXattr(string path, byte* list, nuint size);

    [LibraryImport(Libraries.Libc, EntryPoint = "fsetxattr", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int FSetXattr(int fd, string name, byte* value, nuint size, int flags);

    /// <summary>An extended attribute of a path (not following a final symlink), or null.</summary>
    internal static unsafe byte[]? GetXattr(string path, string name)
    {
        nint n = LGetXattr(path, name, null, 0);
        if (n < 0)
            return null;
        byte[] value = new byte[n];
        fixed (byte* p = value)
            n = LGetXattr(path, name, p, (nuint)value.Length);
        return n < 0 ? null : value[..(int)n];
    }

    /// <summary>The names of a path's extended attributes (not following a final symlink).</summary>
    internal static unsafe string[] ListXattrs(string path)
    {
        nint n = LListXattr(path, null, 0);
        if (n <= 0)
            return [];
        byte[] list = new byte[n];
        fixed (byte* p = list)
            n = LListXattr(path, p, (nuint)list.Length);
        if (n <= 0)
            return [];
        return System.Text.Encoding.UTF8.GetString(list, 0, (int)n).Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }

    internal static unsafe int SetXattr(int fd, string name, byte[] value)
    {
        fixed (byte* p = value)
            return FSetXattr(fd, name, p, (nuint)value.Length, 0) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }
}
