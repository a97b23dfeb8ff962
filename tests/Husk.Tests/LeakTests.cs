using Husk.Launch;

namespace Husk.Tests;

/// <summary>Tests that count the process's descriptors and the host's mounts: they run alone.</summary>
[Collection(ProcessWideStateCollection.ProcessWideState)]
public class LeakTests
{
    [Fact]
    public void Failing_op_names_the_step_and_path_and_leaves_nothing_behind()
    {
        // One launch first, so lazily created process-wide descriptors (husk-init's memfd) exist.
        TestEnvironment.Run(TestEnvironment.Spec("/bin/true"));
        string before = TestEnvironment.HostMounts();
        var fds = TestEnvironment.OpenFds();
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Mounts = [new TmpfsMount("/x"), new BindMount("/no/such/source", "/x/y")],
        };
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(spec));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("bind mount /no/such/source on /x/y: can't find source /no/such/source: No such file or directory", e.Message);
        Assert.IsType<BindMount>(e.Origin);
        Assert.Equal(SandboxSetupStage.Operation, e.Stage);
        Assert.Equal(before, TestEnvironment.HostMounts());
        Assert.Empty(TestEnvironment.NewFds(fds));
    }

}

/// <summary>The engine under load, and its safety invariants at the native level.</summary>
[Collection(ProcessWideStateCollection.ProcessWideState)]
public class StressTests
{
    [Fact]
    public async Task Five_hundred_sandboxes_from_several_threads_under_gc_pressure_neither_hang_nor_leak()
    {
        TestEnvironment.Run(TestEnvironment.Spec("/bin/true"));
        var fds = TestEnvironment.OpenFds();
        string mounts = TestEnvironment.HostMounts();
        using var stop = new CancellationTokenSource();
        // Other threads allocate hard, so GC suspensions hit every clone (the fork hazard of DESIGN.md).
        var allocators = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            var keep = new List<object>();
            while (!stop.IsCancellationRequested)
            {
                keep.Add(new byte[256]);
                keep.Add(new string('x', 64));
                if (keep.Count > 100_000)
                    keep.Clear();
            }
        })).ToArray();
        int ok = 0;
        var spec = TestEnvironment.Spec("/bin/true");
        var workers = Enumerable.Range(0, 4).Select(w => new Thread(() =>
        {
            for (int i = 0; i < 125; i++)
            {
                using var p = Sandbox.Start(spec);
                var exit = p.WaitForExit(); // a hang here fails the Join below
                if (exit.ExitCode == 0)
                    Interlocked.Increment(ref ok);
            }
        })).ToArray();
        foreach (var t in workers)
            t.Start();
        foreach (var t in workers)
            Assert.True(t.Join(TimeSpan.FromMinutes(5)), "a worker hung");
        await stop.CancelAsync();
        await Task.WhenAll(allocators);
        Assert.Equal(500, ok);
        Assert.Equal(mounts, TestEnvironment.HostMounts());
        // Background reaps may still be closing pidfds; only new descriptors would be leaks.
        Assert.Empty(TestEnvironment.NewFds(fds));
    }

    [Fact]
    public void A_mount_plan_outside_a_new_mount_namespace_is_refused_by_the_native_stage()
    {
        var spec = TestEnvironment.Spec("/bin/true");
        var host = HostContext.Current();
        var plan = SpawnPlanner.Plan(spec, host);
        // Forge what the planner never produces: mount ops without a new mount namespace.
        var forged = new SpawnPlan
        {
            CloneFlags = plan.CloneFlags & ~Interop.Interop.Clone.CLONE_NEWNS,
            Ops = plan.Ops,
            IdMaps = plan.IdMaps,
            HasMounts = true,
            UsesInit = plan.UsesInit,
            ExecOpIndex = plan.ExecOpIndex,
        };
        string before = TestEnvironment.HostMounts();
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(forged, host, null));
        Assert.Equal(Errno.EPERM, e.Errno);
        Assert.Contains("refusing to mount outside a new mount namespace", e.Message);
        Assert.Equal(before, TestEnvironment.HostMounts());
    }

    [Fact]
    public void A_spec_with_filesystem_ops_but_no_mount_namespace_is_rejected_with_every_problem()
    {
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Namespaces = NamespaceKinds.User | NamespaceKinds.Pid,
            Hostname = "x",
            AsPid1 = true,
            LockFiles = ["/tmp/l"],
        };
        var e = Assert.Throws<SandboxSpecException>(() => Sandbox.Start(spec));
        Assert.Contains(e.Problems, p => p.StartsWith("filesystem operations need a mount namespace", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("a hostname needs a UTS namespace", StringComparison.Ordinal));
        Assert.Contains(e.Problems, p => p.StartsWith("--as-pid-1 cannot hold lock files", StringComparison.Ordinal));
        Assert.Equal(3, e.Problems.Length);
    }
}
