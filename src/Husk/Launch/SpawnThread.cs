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
    private static readonly Thread Thread = Start();

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
        if (Thread.CurrentThread == Thread)
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
