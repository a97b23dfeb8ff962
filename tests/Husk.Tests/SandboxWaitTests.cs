namespace Husk.Tests;

/// <summary>Waiting for a sandbox, from one thread or many, synchronously or not.</summary>
/// <remarks>Alone: one test counts the process's descriptors, which other classes' sandboxes open meanwhile.</remarks>
[Collection(ProcessWideStateCollection.ProcessWideState)]
public class SandboxWaitTests
{
    /// <summary>
    /// Only one waiter may reap the sandbox, and every one of them gets the same exit (none an
    /// ECHILD from a second waitid, none a failed second watch of the same pidfd).
    /// </summary>
    [Fact]
    public async Task Every_waiter_gets_the_same_exit_however_many_wait_at_once()
    {
        // With husk-init (a pid namespace: its status record) and without (the payload is our child: waitid).
        foreach (var spec in new[]
        {
            TestEnvironment.Spec("/bin/sh", "-c", "exit 7"),
            TestEnvironment.Spec("/bin/sh", "-c", "exit 7") with { AsPid1 = true },
        })
        {
            for (int round = 0; round < 10; round++)
            {
                using var p = Sandbox.Start(spec);
                using var go = new ManualResetEventSlim();
                var sync = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
                {
                    go.Wait();
                    return p.WaitForExit();
                }, TaskCreationOptions.LongRunning)).ToArray();
                var async = Enumerable.Range(0, 2).Select(_ => p.WaitForExitAsync(TestContext.Current.CancellationToken)).ToArray();
                go.Set();
                var exits = await Task.WhenAll(sync.Concat(async)).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
                Assert.All(exits, e => Assert.Equal(7, e.ExitCode));
                Assert.Equal(7, p.WaitForResult().Exit!.ExitCode);
            }
        }
    }

    /// <summary>
    /// A sandbox waited for asynchronously is reaped and its descriptors closed, as one waited for
    /// synchronously is: nothing of it stays in the caller (no zombie, no pidfd).
    /// </summary>
    [Fact]
    public async Task An_awaited_sandbox_leaves_no_zombie_and_no_descriptor()
    {
        var spec = TestEnvironment.Spec("/bin/true");
        using (var warm = Sandbox.Start(spec))
            await warm.WaitAsync(TestContext.Current.CancellationToken);
        var fds = TestEnvironment.OpenFds();
        for (int i = 0; i < 5; i++)
        {
            using var p = Sandbox.Start(spec);
            var result = await p.WaitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(0, result.Exit!.ExitCode);
        }
        Assert.Empty(TestEnvironment.NewFds(fds));
        Assert.Empty(Zombies());
    }

    /// <summary>Our children that have exited and were never reaped (given time for background reaps).</summary>
    private static string[] Zombies()
    {
        string[] zombies = [];
        for (int i = 0; i < 50; i++)
        {
            zombies = [.. Directory.GetDirectories("/proc/self/task")
                .SelectMany(t => File.Exists(Path.Combine(t, "children")) ? File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries) : [])
                .Where(pid => ReadState(pid) == 'Z')];
            if (zombies.Length == 0)
                break;
            Thread.Sleep(100);
        }
        return zombies;
    }

    private static char ReadState(string pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[stat.LastIndexOf(')') + 2];
        }
        catch (IOException)
        {
            return '?'; // gone while we looked
        }
    }
}
