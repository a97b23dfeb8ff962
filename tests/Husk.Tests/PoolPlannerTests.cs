using Husk.Launch;
using Husk.Pools;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Clone;

namespace Husk.Tests;

/// <summary>How a cold plan divides between a pool's template and its runs (pure: no kernel).</summary>
public class PoolPlannerTests
{
    private static readonly HostContext Host = new() { Uid = 1000, Gid = 1000, WorkingDirectory = "/home/u" };

    private static PoolPlan Split(SandboxSpec spec, HostContext? host = null, SubordinateIds? subIds = null)
    {
        host ??= Host;
        return PoolPlanner.Split(SpawnPlanner.Plan(spec, host, subIds), spec, host, freshNetwork: false);
    }

    [Fact]
    public void A_run_carries_every_policy_op_of_the_cold_plan_after_the_build()
    {
        var spec = TestEnvironment.Spec("/bin/true") with { Seccomp = SeccompSpec.Default, Landlock = LandlockSpec.Default, Limits = JudgeBattery.Bounded };
        var cold = SpawnPlanner.Plan(spec, Host);
        var split = PoolPlanner.Split(cold, spec, Host, freshNetwork: false);
        int finish = cold.Ops.ToList().FindIndex(o => o.Kind == OpKind.RootFinish);
        var after = cold.Ops.Skip(finish + 1).ToList();
        Assert.Contains(after, o => o.Kind == OpKind.Caps);
        Assert.Contains(after, o => o.Kind == OpKind.Rlimit);
        // The same op objects, in the same order, at the run plan's end; the template has none of them.
        Assert.Equal(after, split.Run.Ops.TakeLast(after.Count));
        Assert.Empty(split.TemplateOps.Intersect(after));
        Assert.Equal(cold.ExecOpIndex - finish, split.Run.ExecOpIndex - (split.Run.Ops.Count - after.Count - 1));
        // Fresh pid, mount, ipc and uts namespaces for every run.
        ulong fresh = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
        Assert.Equal(fresh, RunNamespaces(split) & fresh);
    }

    [Fact]
    public void Every_filesystem_instance_is_made_by_each_run()
    {
        var split = Split(TestEnvironment.Spec("/bin/true"));
        Assert.DoesNotContain(split.TemplateOps, o => o.Kind == OpKind.Mount && o.S1 is "proc" or "tmpfs" or "devpts" or "mqueue");
        Assert.Contains(split.Run.Ops, o => o.Kind == OpKind.Mount && o.S1 == "proc");
        Assert.Contains(split.Run.Ops, o => o.Kind == OpKind.Mount && o.S1 == "tmpfs" && o.S2 == "/tmp");
    }

    [Fact]
    public void A_spec_that_maps_a_range_is_refused_with_the_reason()
    {
        var ranges = new SubordinateIds((200000, 65536), (200000, 65536), null, null);
        var spec = TestEnvironment.Spec("/bin/true") with { Identity = new Identity { Mapping = IdMapping.SubordinateRange } };
        var e = Assert.Throws<SandboxSpecException>(() => Split(spec, Host, ranges));
        Assert.Contains("map one id", e.Message);
        Split(TestEnvironment.Spec("/bin/true"), Host);
    }

    /// <summary>
    /// Root's default maps a subordinate range (the payload is never the host's root); a pool maps
    /// the one id of that range the payload runs as, the same host id a cold run gives it.
    /// </summary>
    [Theory]
    [InlineData(null, "0 100000 1\n")]
    [InlineData(1000u, "1000 101000 1\n")]
    public void Root_s_pool_maps_the_one_id_of_its_subordinate_range_a_cold_run_gives_the_payload(uint? uid, string expected)
    {
        var root = Host with { Uid = 0, Gid = 0 };
        var ranges = new SubordinateIds(null, null, (100000, 65536), (100000, 65536));
        var spec = TestEnvironment.Spec("/bin/true") with { Identity = new Identity { Uid = uid, Gid = uid } };
        var cold = SpawnPlanner.Plan(spec, root, ranges);
        Assert.Equal("0 100000 65536\n", cold.IdMaps.UidMap);
        var split = Split(spec, root, ranges);
        Assert.Equal(expected, split.IdMaps.UidMap);
        Assert.Equal(expected, split.IdMaps.GidMap);
        Assert.Equal(IdMapKind.Write, split.IdMaps.Kind);
        // The run's own namespace maps that id to itself.
        Assert.Contains(split.Run.Ops, o => o.Role == SetupRole.NestedUidMap && System.Text.Encoding.UTF8.GetString(o.Data!) == $"{uid ?? 0} {uid ?? 0} 1\n");
    }

    [Theory]
    [InlineData("time")]
    [InlineData("share-user")]
    [InlineData("inherit")]
    [InlineData("nat")]
    [InlineData("bridge")]
    [InlineData("allowlist")]
    public void A_spec_a_pool_cannot_run_is_refused_with_one_sentence_each(string what)
    {
        var spec = TestEnvironment.Spec("/bin/true");
        spec = what switch
        {
            "time" => spec with { Namespaces = spec.Namespaces | NamespaceKinds.Time },
            "share-user" => spec with { Namespaces = spec.Namespaces & ~NamespaceKinds.User },
            "nat" => spec with { Network = new NetworkSpec { Mode = NetworkMode.Nat } },
            "bridge" => spec with { Network = new NetworkSpec { Mode = NetworkMode.Bridge } },
            "allowlist" => spec with { Network = new NetworkSpec { Filter = true } },
            _ => spec with { FileSystem = FileSystemSpec.Inherit },
        };
        var problems = PoolPlanner.Check(spec);
        Assert.Single(problems);
        if (what is "nat" or "bridge" or "allowlist")
            Assert.Contains(what == "allowlist" ? "egress allowlist network" : $"{what} network", problems[0]);
    }

    /// <summary>A pool's runs keep loopback only, or the host's network when the spec shares it: neither is refused.</summary>
    [Fact]
    public void A_pool_takes_the_loopback_and_the_host_network()
    {
        var spec = TestEnvironment.Spec("/bin/true");
        Assert.Empty(PoolPlanner.Check(spec with { Network = new NetworkSpec { Mode = NetworkMode.None } }));
        Assert.Empty(PoolPlanner.Check(spec with { Namespaces = spec.Namespaces & ~NamespaceKinds.Net, Network = new NetworkSpec { Mode = NetworkMode.Host } }));
    }

    [Fact]
    public void By_default_each_run_gets_a_network_namespace_of_its_own_as_a_cold_run_does()
    {
        Assert.True(new SandboxPoolOptions().NetworkPerRun);
        var spec = TestEnvironment.Spec("/bin/true");
        var split = PoolPlanner.Split(SpawnPlanner.Plan(spec, Host), spec, Host, new SandboxPoolOptions().NetworkPerRun);
        Assert.NotEqual(0UL, RunNamespaces(split) & CLONE_NEWNET);
        Assert.Contains(split.Run.Ops, o => o.Kind == OpKind.LoopbackUp);
        Assert.DoesNotContain(split.TemplateOps, o => o.Kind == OpKind.LoopbackUp);
    }
    /// <summary>
    /// The template's clone makes only the run's pid and cgroup namespaces (it serves one request
    /// at a time); the run makes the rest itself, after the supervisor's go and before any other op.
    /// </summary>
    [Fact]
    public void A_run_makes_its_own_namespaces_after_the_supervisors_go_and_before_anything_else()
    {
        var spec = TestEnvironment.Spec("/bin/true");
        var split = PoolPlanner.Split(SpawnPlanner.Plan(spec, Host), spec, Host, freshNetwork: true);
        Assert.Equal(CLONE_NEWPID | CLONE_NEWCGROUP, split.Run.CloneFlags);
        Assert.Equal(OpKind.WaitParent, split.Run.Ops[0].Kind);
        Assert.Equal(OpKind.Unshare, split.Run.Ops[1].Kind);
        ulong wanted = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET;
        Assert.Equal(wanted, split.Run.Ops[1].A);
        var shared = PoolPlanner.Split(SpawnPlanner.Plan(spec, Host), spec, Host, freshNetwork: false);
        Assert.Equal(wanted & ~CLONE_NEWNET, shared.Run.Ops[1].A);
    }

    /// <summary>Every namespace a run makes: by the template's clone, or by its own unshare ops before its build.</summary>
    private static ulong RunNamespaces(PoolPlan split) =>
        split.Run.CloneFlags | split.Run.Ops.TakeWhile(o => o.Kind != OpKind.RootFinish).Where(o => o.Kind == OpKind.Unshare).Aggregate(0UL, (a, o) => a | o.A);
}
