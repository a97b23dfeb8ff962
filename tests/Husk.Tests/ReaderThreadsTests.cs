using Husk.Launch;

namespace Husk.Tests;

/// <summary>The kept threads that read sandboxes' output: reused, and never one item waiting behind another.</summary>
public class ReaderThreadsTests
{
    [Fact]
    public async Task An_item_after_another_runs_on_the_same_kept_thread()
    {
        int first = await ReaderThreads.Run(() => Environment.CurrentManagedThreadId);
        // The first item's thread is idle again once its result is set and it goes back to wait:
        // the next item wakes an idle thread instead of making one, so some thread is reused.
        var seen = new HashSet<int> { first };
        bool reused = false;
        for (int i = 0; i < 50 && !reused; i++)
        {
            int id = await ReaderThreads.Run(() => Environment.CurrentManagedThreadId);
            reused = !seen.Add(id);
        }
        Assert.True(reused, $"every item ran on a new thread ({seen.Count} threads)");
    }

    /// <summary>Two items that block until the other has run must both end: each has a thread of its own.</summary>
    [Fact]
    public async Task Blocking_items_each_get_a_thread_of_their_own()
    {
        using var a = new ManualResetEventSlim();
        using var b = new ManualResetEventSlim();
        var one = ReaderThreads.Run(() =>
        {
            a.Set();
            return b.Wait(TimeSpan.FromSeconds(10));
        });
        var two = ReaderThreads.Run(() =>
        {
            b.Set();
            return a.Wait(TimeSpan.FromSeconds(10));
        });
        Assert.True(await one);
        Assert.True(await two);
    }

    [Fact]
    public async Task An_items_exception_ends_its_task_and_the_thread_goes_on()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() => ReaderThreads.Run<int>(() => throw new InvalidOperationException("boom")));
        Assert.Equal(7, await ReaderThreads.Run(() => 7));
    }
}
