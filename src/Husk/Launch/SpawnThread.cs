using System.Collections.Concurrent;

namespace Husk.Launch;

/// <summary>
/// The one long-lived OS thread every sandbox is cloned from. PR_SET_PDEATHSIG fires when the
/// thread that created the child exits, so a thread-pool thread would kill sandboxes at random;
/// this thread never exits while the process lives.
/// </summary>
internal static class SpawnThread
{
    private static readonly BlockingCollection<Action> Queue = new();
    private static Thread? _thread;
    private static readonly object Gate = new();

    private static Thread Current
    {
        get
        {
            lock (Gate)
                return _thread ??= Start();
        }
    }

    private static Thread Start()
    {
        var t = new Thread(Run, maxStackSize: 1 << 20)
        {
            IsBackground = true,
            Name = "husk-spawn",
        };
        t.Start();
        return t;
    }

    private static void Run()
    {
        foreach (var work in Queue.GetConsumingEnumerable())
            work();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the spawn thread. The spawn thread sleeps in clone3 until a
    /// child execs, while the caller serves the child's channel, so the caller never is the spawn
    /// thread.
    /// </summary>
    public static Task<T> Run<T>(Func<T> work)
    {
        if (Thread.CurrentThread == Current)
            throw new InvalidOperationException("husk: the spawn thread cannot wait for its own child");
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Add(() =>
        {
            try
            {
                tcs.SetResult(work());
            }
            catch (Exception e)
            {
                tcs.SetException(e);
            }
        });
        return tcs.Task;
    }
}
