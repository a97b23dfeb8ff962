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
    private static int _idle;

    /// <summary>At most this many spawning threads: one per processor, at least two.</summary>
    internal static int Max { get; } = Math.Max(2, Environment.ProcessorCount);

    /// <summary>Starts another spawning thread when none is idle (a CLI needs one, a busy library more).</summary>
    private static void EnsureCapacity()
    {
        lock (Gate)
        {
            if (_idle > 0 || Threads.Count >= Max)
                return;
            var t = new Thread(Run, maxStackSize: 1 << 20)
            {
                IsBackground = true,
                Name = $"husk-spawn-{Threads.Count}",
            };
            Threads.Add(t);
            _idle++;
            t.Start();
        }
    }

    private static void Run()
    {
        foreach (var work in Queue.GetConsumingEnumerable())
        {
            Interlocked.Decrement(ref _idle);
            try
            {
                work();
            }
            finally
            {
                Interlocked.Increment(ref _idle);
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a spawning thread. That thread sleeps in clone3 until the
    /// child execs while the caller serves the child's channel, so the caller is never one of them.
    /// </summary>
    public static Task<T> Run<T>(Func<T> work)
    {
        EnsureCapacity();
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
