using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Plain libc calls used by the supervisor (never by the child, which is C only).</summary>
internal static partial class Interop
{
    internal const int O_RDONLY = 0;
    internal const int O_WRONLY = 1;
    internal const int O_RDWR = 2;
    internal const int O_CREAT = 0x40;
    internal const int O_EXCL = 0x80;
    internal const int O_NOCTTY = 0x100;
    internal const int O_TRUNC = 0x200;
    internal const int O_APPEND = 0x400;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_DIRECTORY = 0x10000;
    internal const int O_NOFOLLOW = 0x20000;
    internal const int O_CLOEXEC = 0x80000;
    internal const int O_PATH = 0x200000;

    internal const int F_GETFD = 1;
    internal const int F_SETFD = 2;
    internal const int F_GETFL = 3;
    internal const int FD_CLOEXEC = 1;
    internal const int F_DUPFD_CLOEXEC = 1030;

    internal const int AT_FDCWD = -100;
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;

    [LibraryImport(Libraries.Libc, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, int mode);

    internal static SafeFd Open(string path, int flags, int mode = 0)
    {
        int fd = OpenRaw(path, flags | O_CLOEXEC, mode);
        if (fd < 0)
            throw SyscallException.FromLastError("open", path);
        return new SafeFd(fd);
    }

    internal static int TryOpen(string path, int flags, out SafeFd? fd, int mode = 0)
    {
        int r = OpenRaw(path, flags | O_CLOEXEC, mode);
        if (r < 0)
        {
            fd = null;
            return Marshal.GetLastPInvokeError();
        }
        fd = new SafeFd(r);
        return 0;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint ReadRaw(int fd, void* buf, nuint count);

    /// <summary>
    /// read(2), retried when a signal interrupts it: the bytes read (0 at end of file), or -1 with
    /// the error in Marshal.GetLastPInvokeError().
    /// </summary>
    internal static unsafe nint Read(int fd, void* buf, nuint count)
    {
        nint n;
        do
            n = ReadRaw(fd, buf, count);
        while (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
        return n;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "usleep")]
    private static partial int Usleep(uint microseconds);

    /// <summary>
    /// Waits before polling again: 100 µs, doubling up to 2 ms (Thread.Sleep's millisecond is far
    /// longer than a sandbox's last process takes to leave its cgroup).
    /// </summary>
    internal static void Backoff(int attempt) => Usleep(100u << Math.Min(attempt, 4));

    [LibraryImport(Libraries.Libc, EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(int fd, void* buf, nuint count);

    [LibraryImport(Libraries.Libc, EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe2(int* fds, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport(Libraries.Libc, EntryPoint = "dup", SetLastError = true)]
    internal static partial int Dup(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "getuid")]
    internal static partial uint GetUid();

    [LibraryImport(Libraries.Libc, EntryPoint = "geteuid")]
    internal static partial uint GetEuid();

    [LibraryImport(Libraries.Libc, EntryPoint = "getgid")]
    internal static partial uint GetGid();

    [LibraryImport(Libraries.Libc, EntryPoint = "getegid")]
    internal static partial uint GetEgid();

    [LibraryImport(Libraries.Libc, EntryPoint = "getpid")]
    internal static partial int GetPid();

    [LibraryImport(Libraries.Libc, EntryPoint = "getpgrp")]
    internal static partial int GetPgrp();

    [LibraryImport(Libraries.Libc, EntryPoint = "umask")]
    internal static partial uint Umask(uint mask);

    [LibraryImport(Libraries.Libc, EntryPoint = "isatty")]
    internal static partial int IsATty(int fd);

    [LibraryImport(Libraries.Libc, EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int sig);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall3(long number, long a, long b, long c);

    [LibraryImport(Libraries.Libc, EntryPoint = "syscall", SetLastError = true)]
    internal static partial long Syscall5(long number, long a, long b, long c, long d, long e);

    internal static unsafe (SafeFd Read, SafeFd Write) Pipe()
    {
        int* fds = stackalloc int[2];
        if (Pipe2(fds, O_CLOEXEC) != 0)
            throw SyscallException.FromLastError("pipe2");
        return (new SafeFd(fds[0]), new SafeFd(fds[1]));
    }

    internal static unsafe int ReadExactly(int fd, Span<byte> buffer)
    {
        int total = 0;
        fixed (byte* p = buffer)
        {
            while (total < buffer.Length)
            {
                nint n = Read(fd, p + total, (nuint)(buffer.Length - total));
                if (n < 0)
                    throw SyscallException.FromLastError("read", $"fd {fd}");
                if (n == 0)
                    break;
                total += (int)n;
            }
        }
        return total;
    }

    internal static unsafe void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            int off = 0;
            while (off < data.Length)
            {
                nint n = Write(fd, p + off, (nuint)(data.Length - off));
                if (n < 0)
                {
                    int e = Marshal.GetLastPInvokeError();
                    if (e == (int)Errno.EINTR)
                        continue;
                    throw new SyscallException("write", $"fd {fd}", (Errno)e);
                }
                off += (int)n;
            }
        }
    }

    internal static bool IsValidFd(int fd) => fd >= 0 && Fcntl(fd, F_GETFD, 0) >= 0;

    [LibraryImport(Libraries.Libc, EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mkfifo(string path, int mode);
}
