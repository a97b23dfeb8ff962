using System.Collections.Concurrent;

namespace Husk.Launch;

/// <summary>
/// The long-lived OS threads sandboxes are cloned from. PR_SET_PDEATHSIG fires when the thread
/// that created the child exits, so a thread-pool thread would kill sandboxes at random; these
/// threads never exit while the process lives. Each sleeps in clone3 until its child execs (the
/// child borrows the process's memory meanwhile), so several let launches overlap; the native
/// stage keeps each child's state apart (per-spawn region, reached through the spawning thread's TLS).
/// </summary>
internal static class SpawnThread
{
    private static readonly BlockingCollection<Action> Queue = new();
    private static readonly HashSet<Thread> Threads = [];
    private static readonly object Gate = new();
    private static bool _started;

    /// <summary>How many spawning threads run: one per processor, at least two.</summary>
    internal static int Count { get; } = Math.Max(2, Environment.ProcessorCount);

    private static void EnsureStarted()
    {
        lock (Gate)
        {
            if (_started)
                return;
            for (int i = 0; i < Count; i++)
            {
                var t = new Thread(Run, maxStackSize: 1 << 20)
                {
                    IsBackground = true,
                    Name = $"husk-spawn-{i}",
                };
                Threads.Add(t);
                t.Start();
            }
            _started = true;
        }
    }

    private static void Run()
    {
        foreach (var work in Queue.GetConsumingEnumerable())
            work();
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a spawning thread. That thread sleeps in clone3 until the
    /// child execs while the caller serves the child's channel, so the caller is never one of them.
    /// </summary>
    public static Task<T> Run<T>(Func<T> work)
    {
        EnsureStarted();
        lock (Gate)
        {
            if (Threads.Contains(Thread.CurrentThread))
                throw new InvalidOperationException("husk: a spawning thread cannot wait for its own child");
        }
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
