using System.Runtime.InteropServices;

namespace Husk.Interop;

internal static partial class Interop
{
    internal const int EPOLL_CLOEXEC = 0x80000;
    internal const int EPOLL_CTL_ADD = 1;
    internal const int EPOLL_CTL_DEL = 2;
    internal const uint EPOLLIN = 0x1;
    internal const uint EPOLLONESHOT = 1u << 30;

    /// <summary>struct epoll_event on x86_64, where the kernel packs it (12 bytes).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 4)]
    internal struct EpollEventPacked
    {
        public uint Events;
        public ulong Data;
    }

    /// <summary>struct epoll_event elsewhere (16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct EpollEventAligned
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_create1", SetLastError = true)]
    internal static partial int EpollCreate1(int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_ctl", SetLastError = true)]
    internal static unsafe partial int EpollCtl(int epfd, int op, int fd, void* ev);

    [LibraryImport(Libraries.Libc, EntryPoint = "epoll_wait", SetLastError = true)]
    internal static unsafe partial int EpollWait(int epfd, void* events, int maxEvents, int timeout);

    internal const short POLLIN = 0x1;

    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short REvents;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, ulong nfds, int timeout);
}
