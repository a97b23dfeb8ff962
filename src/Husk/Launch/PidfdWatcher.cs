using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// One thread waits on every sandbox's pidfd with epoll, so thousands of concurrent sandboxes cost
/// no thread each. A pidfd becomes readable when its process exits.
/// </summary>
/// <remarks>
/// Each watch registers a duplicate of the caller's descriptor that the watcher owns: epoll keys a
/// registration by descriptor number and file, so one descriptor can be watched only once at a
/// time (a second EPOLL_CTL_ADD is EEXIST), and a fired one-shot registration stays in the set,
/// disabled, until its descriptor is closed. With a duplicate of its own, a watch can be made
/// while another of the same process is pending or has fired (an awaited sandbox's background
/// reap after its exit watch), and the watcher removes and closes it when it fires, whatever the
/// caller has closed meanwhile.
/// </remarks>
internal static unsafe class PidfdWatcher
{
    private static readonly ConcurrentDictionary<ulong, (int Fd, Action OnExit, bool Inline)> Waiters = new();
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
    /// (or, for an adopted run, once its status pipe has something to read): on the thread pool, or
    /// on the watching thread itself when <paramref name="inline"/> (for a few system calls that
    /// cannot block, such as reaping the process that ended: a hop to the thread pool wakes a worker
    /// that then spins, with sched_yield, for more work, which cost a cold launch on two cores more
    /// than the reap itself).
    /// </summary>
    public static void Watch(SafeFd pidfd, Action onExit, bool inline = false)
    {
        int fd;
        bool added = false;
        try
        {
            pidfd.DangerousAddRef(ref added);
            fd = Fcntl(pidfd.Fd, F_DUPFD_CLOEXEC, 0);
        }
        finally
        {
            if (added)
                pidfd.DangerousRelease();
        }
        if (fd < 0)
            throw SyscallException.FromLastError("fcntl", "pidfd");
        ulong id = (ulong)Interlocked.Increment(ref _nextId);
        Waiters[id] = (fd, onExit, inline);
        int r;
        if (RuntimeInformation.ProcessArchitecture == Architecture.X64)
        {
            var ev = new EpollEventPacked { Events = EPOLLIN | EPOLLONESHOT, Data = id };
            r = EpollCtl(Epoll, EPOLL_CTL_ADD, fd, &ev);
        }
        else
        {
            var ev = new EpollEventAligned { Events = EPOLLIN | EPOLLONESHOT, Data = id };
            r = EpollCtl(Epoll, EPOLL_CTL_ADD, fd, &ev);
        }
        if (r < 0)
        {
            var error = SyscallException.FromLastError("epoll_ctl", "pidfd");
            Waiters.TryRemove(id, out _);
            Close(fd);
            throw error;
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
                if (!Waiters.TryRemove(id, out var waiter))
                    continue;
                EpollCtl(Epoll, EPOLL_CTL_DEL, waiter.Fd, null);
                Close(waiter.Fd);
                if (!waiter.Inline)
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static a => a(), waiter.OnExit, preferLocal: false);
                    continue;
                }
                try
                {
                    waiter.OnExit();
                }
                catch (Exception e) when (e is SyscallException or ObjectDisposedException)
                {
                    // An inline action may not take the watcher down with it: its process is gone either way.
                }
            }
        }
    }
}
