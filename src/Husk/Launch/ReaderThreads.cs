namespace Husk.Launch;

/// <summary>
/// Threads for work that blocks on a payload's pipes (reading its output to the end), kept for
/// the next sandbox instead of made for each: a judge runs thousands of sandboxes, and a thread
/// made and ended twice per run cost more of the supervisor's time than anything else it does for
/// a run. Each item gets a thread of its own while it runs (a blocking read never waits behind
/// another, as it could in the thread pool); a thread idle for <see cref="IdleTimeout"/> ends.
/// </summary>
internal static class ReaderThreads
{
    /// <summary>How long an idle thread waits for more work before it ends.</summary>
    internal static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(20);

    private static readonly object Gate = new();
    private static readonly Queue<Action> Work = new();
    private static int _idle;

    /// <summary>Runs <paramref name="work"/> on a kept thread (a new one when none is idle).</summary>
    public static Task<T> Run<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Item()
        {
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
        }
        bool start;
        lock (Gate)
        {
            Work.Enqueue(Item);
            // Every queued item has an idle thread to wake, or a new thread takes it.
            start = Work.Count > _idle;
            if (!start)
                Monitor.Pulse(Gate);
        }
        if (start)
            new Thread(Loop) { IsBackground = true, Name = "husk-output" }.Start();
        return done.Task;
    }

    private static void Loop()
    {
        while (true)
        {
            Action next;
            lock (Gate)
            {
                if (!Work.TryDequeue(out next!))
                {
                    _idle++;
                    while (Work.Count == 0)
                    {
                        if (!Monitor.Wait(Gate, IdleTimeout) && Work.Count == 0)
                        {
                            _idle--;
                            return;
                        }
                    }
                    _idle--;
                    next = Work.Dequeue();
                }
            }
            next();
        }
    }
}
