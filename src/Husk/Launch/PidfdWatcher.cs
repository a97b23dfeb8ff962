using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// One thread waits on every sandbox's pidfd with epoll, so thousands of concurrent sandboxes cost
/// no thread each. A pidfd becomes readable when its process exits.
/// </summary>
internal static unsafe class PidfdWatcher
{
    private static readonly ConcurrentDictionary<ulong, Action> Waiters = new();
    private static readonly int Epoll = Create();
    private static long _nextId;

    private static int Create()
    {
        int fd = EpollCreate1(EPOLL_CLOEXEC);
        if (fd < 0)
            throw SyscallException.FromLastError("epoll_create1");
        var t = new Thread(Loop) { IsBackground = true, Name = "husk-pidfd" };
        t.Start();
        return fd;
    }

    /// <summary>
    /// Calls <paramref name="onExit"/> once the process behind <paramref name="pidfd"/> has exited
    /// (or, for an adopted run, once its status pipe has something to read).
    /// </summary>
    public static void Watch(SafeFd pidfd, Action onExit)
    {
        ulong id = (ulong)Interlocked.Increment(ref _nextId);
        Waiters[id] = onExit;
        bool added = false;
        try
        {
            pidfd.DangerousAddRef(ref added);
            int r;
            if (RuntimeInformation.ProcessArchitecture == Architecture.X64)
            {
                var ev = new EpollEventPacked { Events = EPOLLIN | EPOLLONESHOT, Data = id };
                r = EpollCtl(Epoll, EPOLL_CTL_ADD, pidfd.Fd, &ev);
            }
            else
            {
                var ev = new EpollEventAligned { Events = EPOLLIN | EPOLLONESHOT, Data = id };
                r = EpollCtl(Epoll, EPOLL_CTL_ADD, pidfd.Fd, &ev);
            }
            if (r < 0)
            {
                Waiters.TryRemove(id, out _);
                throw SyscallException.FromLastError("epoll_ctl", "pidfd");
            }
        }
        finally
        {
            if (added)
                pidfd.DangerousRelease();
        }
    }

    private static void Loop()
    {
        const int Max = 64;
        bool x64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
        int size = x64 ? sizeof(EpollEventPacked) : sizeof(EpollEventAligned);
        byte* buffer = stackalloc byte[Max * 16];
        while (true)
        {
            int n = EpollWait(Epoll, buffer, Max, -1);
            if (n < 0)
                continue; // EINTR
            for (int i = 0; i < n; i++)
            {
                ulong id = x64 ? ((EpollEventPacked*)(buffer + i * size))->Data : ((EpollEventAligned*)(buffer + i * size))->Data;
                if (Waiters.TryRemove(id, out var action))
                    ThreadPool.UnsafeQueueUserWorkItem(static a => a(), action, preferLocal: false);
            }
        }
    }
}
