using Husk.Launch;

namespace Husk.Tests;

/// <summary>The one thread that waits for every sandbox's end: where it runs what it was given.</summary>
public class PidfdWatcherTests
{
    /// <summary>Makes <paramref name="fd"/> readable, as a process's end makes its pidfd.</summary>
    private static unsafe void Signal(Interop.SafeFd fd)
    {
        byte one = 1;
        Assert.Equal(1, (int)Interop.Interop.Write(fd.Fd, &one, 1));
    }

    private static async Task<string?> ThreadOf(bool inline)
    {
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        using (write)
        {
            var ran = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
            PidfdWatcher.Watch(read, () => ran.SetResult(Thread.CurrentThread.Name), inline);
            Signal(write);
            return await ran.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        }
    }

    /// <summary>A reap (cannot block) runs on the watcher itself: no hop to a thread-pool worker, which would then spin.</summary>
    [Fact]
    public async Task An_inline_action_runs_on_the_watching_thread()
    {
        Assert.Equal("husk-pidfd", await ThreadOf(inline: true));
    }

    /// <summary>Anything else (a result with usage and cgroup reads) runs on the thread pool, never holding up other sandboxes' ends.</summary>
    [Fact]
    public async Task Other_actions_run_on_the_thread_pool()
    {
        Assert.NotEqual("husk-pidfd", await ThreadOf(inline: false));
    }
}
