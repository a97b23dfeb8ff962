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

    /// <summary>
    /// Makes the calling thread the spawn thread. For a program whose main thread lives as long as
    /// its sandboxes (the CLI), this saves starting another thread.
    /// </summary>
    public static void AdoptCurrentThread()
    {
        lock (Gate)
        {
            if (_thread is not null && _thread != Thread.CurrentThread)
                throw new InvalidOperationException("the spawn thread is already running");
            _thread = Thread.CurrentThread;
        }
    }

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

    /// <summary>Runs <paramref name="work"/> on the spawn thread and returns its result.</summary>
    public static T Invoke<T>(Func<T> work)
    {
        var spawnThread = Current;
        if (Thread.CurrentThread == spawnThread)
            return work();
        using var done = new ManualResetEventSlim();
        T result = default!;
        Exception? error = null;
        Queue.Add(() =>
        {
            try
            {
                result = work();
            }
            catch (Exception e)
            {
                error = e;
            }
            finally
            {
                done.Set();
            }
        });
        done.Wait();
        if (error is not null)
            throw error;
        return result;
    }
}
