using System.Globalization;
using Husk.Launch;
using Husk.Resources;

namespace Husk.Tests;

/// <summary>
/// The cgroup drivers and the backend choice against cgroupfs in memory (<see cref="FakeCgroupFs"/>:
/// no privilege, no cgroupfs needed), and for real as root: v2 where a hierarchy is mounted (this
/// host's is empty of controllers: placement, kill and CPU accounting still work), v1 with its controllers.
/// </summary>
public class CgroupTests
{
    private const string Mount = "/sys/fs/cgroup";
    private static readonly string Parent = Path.Combine(Mount, "test");

    /// <summary>A v2 hierarchy with every controller, and a parent cgroup of the caller's that may have them.</summary>
    private static FakeCgroupFs WithParent(string controllers)
    {
        var fs = new FakeCgroupFs(User).MountV2(Mount, "cpu io memory pids").Enable(Mount, controllers);
        return fs.AddCgroup(Parent, fs.CallerUid);
    }

    private const uint User = 1000;

    private static HostContext Host(bool root) => new() { Uid = root ? 0u : User, Gid = root ? 0u : User, WorkingDirectory = "/" };

    [Fact]
    public void V2_enables_the_controllers_and_writes_the_limits_they_hold()
    {
        var fs = WithParent("cpu memory pids");
        var limits = new ResourceLimits { MemoryBytes = 64 << 20, Processes = 10, Cpus = 0.5 };
        var cg = CgroupV2.Create(fs, Parent, limits);
        Assert.True(cg.HasMemory && cg.HasPids && cg.HasCpu);
        Assert.Equal("cpu memory pids", fs.ReadText(Path.Combine(Parent, "cgroup.subtree_control")));
        Assert.StartsWith(Path.Combine(Parent, $"husk-{Environment.ProcessId}-"), cg.Path);
        string Read(string file) => fs.ReadText(Path.Combine(cg.Path, file))!;
        Assert.Equal((64 << 20).ToString(CultureInfo.InvariantCulture), Read("memory.max"));
        Assert.Equal("0", Read("memory.swap.max"));
        Assert.Equal("1", Read("memory.oom.group"));
        Assert.Equal("11", Read("pids.max")); // and husk-init
        Assert.Equal("50000 100000", Read("cpu.max"));
        cg.Dispose();
        Assert.False(fs.DirectoryExists(cg.Path));
    }

    [Fact]
    public void V2_without_controllers_writes_nothing_and_reads_what_is_there()
    {
        var fs = WithParent("");
        using var cg = CgroupV2.Create(fs, Parent, new ResourceLimits { MemoryBytes = 1 << 20 });
        Assert.False(cg.HasMemory || cg.HasPids || cg.HasCpu);
        Assert.Null(fs.ReadText(Path.Combine(cg.Path, "memory.max")));
        Assert.DoesNotContain(fs.Writes, w => w.Path.StartsWith(cg.Path, StringComparison.Ordinal));
        fs.Set(Path.Combine(cg.Path, "cpu.stat"), "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
        var stats = cg.Read();
        Assert.Equal(TimeSpan.FromSeconds(1.5), stats.Total);
        Assert.Equal(TimeSpan.FromSeconds(1), stats.User);
        Assert.Null(stats.MemoryPeak);
    }

    [Fact]
    public void The_baseline_CPU_time_is_the_total_that_Read_gives_in_both_versions()
    {
        var fs = WithParent("");
        using var v2 = CgroupV2.Create(fs, Parent, new ResourceLimits());
        fs.Set(Path.Combine(v2.Path, "cpu.stat"), "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
        Assert.Equal(TimeSpan.FromSeconds(1.5), v2.ReadTotalCpu());
        Assert.Equal(v2.Read().Total, v2.ReadTotalCpu());

        var fs1 = new FakeCgroupFs(0).MountV1("/sys/fs/cgroup/memory", "memory").MountV1("/sys/fs/cgroup/cpuacct", "cpuacct");
        using var v1 = CgroupV1.Create(fs1, new ResourceLimits(), out _)!;
        string cpuacct = v1.Path.Replace("/memory/", "/cpuacct/", StringComparison.Ordinal);
        fs1.Set(Path.Combine(cpuacct, "cpuacct.usage"), "2500000000\n");
        fs1.Set(Path.Combine(cpuacct, "cpuacct.usage_user"), "2000000000\n");
        Assert.Equal(TimeSpan.FromSeconds(2.5), v1.ReadTotalCpu());
        Assert.Equal(v1.Read().Total, v1.ReadTotalCpu());
        // An ended sandbox's groups go at once, in every hierarchy, the parent staying.
        v1.Remove();
        Assert.False(fs1.DirectoryExists(v1.Path));
        Assert.False(fs1.DirectoryExists(cpuacct));
        Assert.True(fs1.DirectoryExists("/sys/fs/cgroup/cpuacct/husk"));
    }

    [Fact]
    public void V2_reads_peak_memory_and_oom_kills()
    {
        var fs = WithParent("memory pids");
        using var cg = CgroupV2.Create(fs, Parent, new ResourceLimits { MemoryBytes = 1 << 20 });
        fs.Set(Path.Combine(cg.Path, "memory.peak"), "4096\n");
        fs.Set(Path.Combine(cg.Path, "memory.current"), "1024\n");
        fs.Set(Path.Combine(cg.Path, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
        fs.Set(Path.Combine(cg.Path, "pids.peak"), "7\n");
        var stats = cg.Read();
        Assert.Equal(4096, stats.MemoryPeak);
        Assert.Equal(1, stats.OomKills);
        Assert.Equal(7, stats.PidsPeak);
    }

    [Fact]
    public void Cgroups_of_crashed_runs_are_stale_and_removed()
    {
        long start = Cgroup.StartTicks(Environment.ProcessId)!.Value;
        string ours = $"husk-{Environment.ProcessId}-{start}-1";
        string crashed = $"husk-{Environment.ProcessId}-{start + 1}-1"; // our pid, another process's start
        string gone = "husk-2147483646-5-1";
        Assert.False(Cgroup.IsStale(ours));
        Assert.True(Cgroup.IsStale(crashed));
        Assert.True(Cgroup.IsStale(gone));
        Assert.False(Cgroup.IsStale("user.slice"));
        var fs = WithParent("");
        foreach (string name in new[] { ours, crashed, gone, "other" })
            fs.CreateDirectory(Path.Combine(Parent, name));
        Cgroup.CleanStale(fs, Parent);
        Assert.Equal([ours, "other"], fs.Directories(Parent, "*").Select(Path.GetFileName).ToArray());
    }

    [Fact]
    public void Mountinfo_gives_the_hierarchies()
    {
        var fs = new FakeCgroupFs(User)
            .MountInfo("30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755")
            .MountV2("/sys/fs/cgroup/unified", "")
            .MountV1("/sys/fs/cgroup/memory", "memory")
            .MountV1("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct");
        var mounts = Cgroup.Mounts(fs).ToList();
        Assert.Equal(3, mounts.Count);
        Assert.Equal(("/sys/fs/cgroup/unified", "cgroup2"), (mounts[0].MountPoint, mounts[0].FsType));
        Assert.Contains("cpuacct", mounts[2].Options);
        Assert.Equal("/sys/fs/cgroup/unified", CgroupV2.FindMount(fs));
        Assert.Equal(["cpu", "cpuacct", "memory"], CgroupV1.FindHierarchies(fs).Keys.Order());
    }

    [Fact]
    public void Root_with_every_v2_controller_gets_a_v2_cgroup_under_husk()
    {
        var fs = new FakeCgroupFs(0).MountV2(Mount, "cpu memory pids");
        using var cg = ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { MemoryBytes = 1 << 20 }, Host(root: true));
        var v2 = Assert.IsType<CgroupV2>(cg);
        Assert.Equal(Path.Combine(Mount, "husk"), Path.GetDirectoryName(v2.Path));
        Assert.True(v2.HasMemory && v2.HasPids);
        Assert.Equal("1048576", fs.ReadText(Path.Combine(v2.Path, "memory.max")));
    }

    [Fact]
    public void Root_with_an_empty_v2_hierarchy_prefers_v1_controllers()
    {
        var fs = new FakeCgroupFs(0).MountV2("/sys/fs/cgroup/unified", "")
            .MountV1("/sys/fs/cgroup/memory", "memory").MountV1("/sys/fs/cgroup/cpuacct", "cpuacct");
        using var cg = ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { MemoryBytes = 1 << 20 }, Host(root: true));
        var v1 = Assert.IsType<CgroupV1>(cg);
        Assert.StartsWith("/sys/fs/cgroup/memory/husk/husk-", v1.Path);
        Assert.Equal("1048576", fs.ReadText(Path.Combine(v1.Path, "memory.limit_in_bytes")));
    }

    [Fact]
    public void Without_v1_an_empty_v2_hierarchy_places_what_needs_no_controller_and_nothing_else()
    {
        var fs = new FakeCgroupFs(0).MountV2(Mount, "");
        using (var placed = ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { CpuTime = TimeSpan.FromSeconds(1) }, Host(root: true)))
            Assert.False(Assert.IsType<CgroupV2>(placed).HasMemory);
        Assert.Null(ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { MemoryBytes = 1 << 20 }, Host(root: true)));
    }

    [Fact]
    public void A_delegated_cgroup_is_left_for_a_leaf_and_sandboxes_go_beside_it()
    {
        string slice = Path.Combine(Mount, "user.slice"), own = Path.Combine(slice, "term.scope");
        var fs = new FakeCgroupFs(User).MountV2(Mount, "cpu memory pids").Enable(Mount, "cpu memory pids")
            .AddCgroup(slice, 0).Enable(slice, "cpu memory pids");
        fs.AddCgroup(own, fs.CallerUid, Environment.ProcessId);
        // ChooseAuto looks for the parent twice (first to see its controllers): the second look must
        // not take the leaf the first one moved the supervisor into for the delegated cgroup.
        using var cg = ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { MemoryBytes = 1 << 20 }, Host(root: false));
        var v2 = Assert.IsType<CgroupV2>(cg);
        // The supervisor left for a leaf of its own, so that the delegated cgroup can hand controllers down.
        Assert.StartsWith(own[Mount.Length..] + $"/husk-{Environment.ProcessId}-", fs.Self);
        Assert.EndsWith("-supervisor", fs.Self);
        Assert.Equal(own, Path.GetDirectoryName(v2.Path));
        Assert.True(v2.HasMemory && v2.HasPids);
        Assert.Equal("1048576", fs.ReadText(Path.Combine(v2.Path, "memory.max")));
    }

    [Fact]
    public void An_unprivileged_caller_without_a_delegated_cgroup_gets_rlimits_and_says_so()
    {
        string own = Path.Combine(Mount, "user.slice", "session-1.scope");
        var fs = new FakeCgroupFs(User).MountV2(Mount, "cpu memory pids").Enable(Mount, "cpu memory pids");
        fs.AddCgroup(own, 0, Environment.ProcessId);
        var spec = new SandboxSpec { Command = ["/bin/true"], Limits = new ResourceLimits { MemoryBytes = 1 << 20 } };
        using var supervisor = ResourceSupervisor.Prepare(spec, Host(root: false), [], fs);
        Assert.Equal("rlimit", supervisor.Backend);
        Assert.Contains("memory is the tree's resident memory, sampled from /proc", supervisor.Notes);
        Assert.Empty(fs.Writes);
        var cpus = spec with { Limits = new ResourceLimits { Cpus = 1 } };
        var e = Assert.Throws<SandboxSetupException>(() => ResourceSupervisor.Prepare(cpus, Host(root: false), [], fs));
        Assert.StartsWith("--cpus needs a cgroup with the cpu controller", e.Message);
    }

    [Fact]
    public void A_cgroup_parent_picks_its_hierarchy_and_must_exist()
    {
        var fs = new FakeCgroupFs(0).MountV2("/sys/fs/cgroup/unified", "").MountV1("/sys/fs/cgroup/memory", "memory").MountV1("/sys/fs/cgroup/cpuacct", "cpuacct");
        fs.CreateDirectory("/sys/fs/cgroup/memory/jobs");
        using (var v1 = ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { CgroupParent = "/sys/fs/cgroup/memory/jobs" }, Host(root: true)))
            Assert.StartsWith("/sys/fs/cgroup/memory/jobs/husk-", Assert.IsType<CgroupV1>(v1).Path);
        fs.CreateDirectory("/sys/fs/cgroup/unified/jobs");
        using (var v2 = ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { CgroupParent = "/sys/fs/cgroup/unified/jobs" }, Host(root: true)))
            Assert.StartsWith("/sys/fs/cgroup/unified/jobs/husk-", Assert.IsType<CgroupV2>(v2).Path);
        var e = Assert.Throws<SandboxSetupException>(() => ResourceSupervisor.ChooseAuto(fs, new ResourceLimits { CgroupParent = "/sys/fs/cgroup/unified/nope" }, Host(root: true)));
        Assert.Equal("cgroup v2: the cgroup parent /sys/fs/cgroup/unified/nope does not exist", e.Message);
    }

    [Fact]
    public void The_cgroup_mounts_are_parsed_once_and_again_after_the_table_changes()
    {
        var fs = new FakeCgroupFs(0).MountV2("/sys/fs/cgroup/unified", "").MountV1("/sys/fs/cgroup/memory", "memory").MountV1("/sys/fs/cgroup/cpuacct", "cpuacct");
        var limits = new ResourceLimits { MemoryBytes = 1 << 20 };
        // The choice of backend and the v1 driver both look up the mounts: one read for many runs.
        for (int i = 0; i < 3; i++)
        {
            using var cg = ResourceSupervisor.ChooseAuto(fs, limits, Host(root: true));
            Assert.IsType<CgroupV1>(cg);
        }
        Assert.Equal(1, fs.MountInfoReads);
        Assert.False(CgroupV1.FindHierarchies(fs).ContainsKey("pids"));
        // A hierarchy mounted later is seen at the next lookup.
        fs.MountV1("/sys/fs/cgroup/pids", "pids");
        Assert.Equal("/sys/fs/cgroup/pids", CgroupV1.FindHierarchies(fs)["pids"]);
        Assert.Equal(2, fs.MountInfoReads);
    }

    [Fact]
    public void Cgroup_mounts_whose_changes_cannot_be_told_are_read_at_every_lookup()
    {
        var fs = new FakeCgroupFs(0) { WatchesMounts = false }.MountV1("/sys/fs/cgroup/memory", "memory");
        Assert.Equal("/sys/fs/cgroup/memory", CgroupV1.FindHierarchies(fs)["memory"]);
        Assert.Equal("/sys/fs/cgroup/memory", CgroupV1.FindHierarchies(fs)["memory"]);
        Assert.Equal(2, fs.MountInfoReads);
    }
}

/// <summary>
/// The drivers for real, as root. Alone (no other sandbox runs meanwhile), so that no cgroup of
/// this process may be left in the hierarchies afterwards.
/// </summary>
[Collection(ProcessWideStateCollection.ProcessWideState)]
[Trait("Category", "Root")]
public class CgroupRootTests
{
    private static string? V2Mount() => Cgroup.Mounts(HostCgroupFs.Instance).Where(m => m.FsType == "cgroup2").Select(m => m.MountPoint).FirstOrDefault();

    private static string[] OurCgroups(string parent) =>
        Directory.Exists(parent) ? Directory.GetDirectories(parent, $"husk-{Environment.ProcessId}-*").Where(d => !d.EndsWith("-supervisor", StringComparison.Ordinal)).ToArray() : [];

    [Fact]
    public async Task V2_for_real_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        string mount = V2Mount() ?? "";
        if (mount.Length == 0)
            Assert.Skip("no cgroup v2 hierarchy is mounted");
        var limits = JudgeBattery.Bounded with { Backend = LimitBackend.CgroupV2, CgroupParent = mount, CpuTime = TimeSpan.FromMilliseconds(300) };
        var (result, name) = await JudgeBattery.Judge(limits, "fork-bomb");
        Assert.Equal("cgroup2", result.Backend);
        Assert.Equal(Verdict.TimeLimit, result.Verdict);
        Assert.Empty(JudgeBattery.Survivors(name));
        Assert.Empty(OurCgroups(mount));
        var (ok, _) = await JudgeBattery.Judge(limits with { CpuTime = TimeSpan.FromSeconds(5) }, "spin", "0.2");
        Assert.Equal(Verdict.OK, ok.Verdict);
        Assert.InRange(ok.Usage.CpuTime.TotalSeconds, 0.2, 0.3);
    }

    [Fact]
    public async Task V1_for_real_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var hierarchies = CgroupV1.FindHierarchies(HostCgroupFs.Instance);
        if (!hierarchies.ContainsKey("memory") || !hierarchies.ContainsKey("cpuacct"))
            Assert.Skip("no cgroup v1 memory and cpuacct hierarchies");
        var limits = JudgeBattery.Bounded with { Backend = LimitBackend.CgroupV1, MemoryBytes = 64 << 20 };
        var (result, name) = await JudgeBattery.Judge(limits, "memory-bomb");
        Assert.Equal("cgroup1", result.Backend);
        Assert.Equal(Verdict.MemoryLimit, result.Verdict);
        Assert.True(result.Usage.OomKilled || result.KilledBySupervisor);
        Assert.InRange(result.Usage.PeakMemoryBytes, 32L << 20, 65L << 20);
        Assert.Empty(JudgeBattery.Survivors(name));
        foreach (string mount in hierarchies.Values.Distinct())
            Assert.Empty(OurCgroups(Path.Combine(mount, "husk")));
    }

    [Fact]
    public void A_new_husk_removes_the_cgroups_of_crashed_runs_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var hierarchies = CgroupV1.FindHierarchies(HostCgroupFs.Instance);
        if (!hierarchies.TryGetValue("memory", out string? memory))
            Assert.Skip("no cgroup v1 memory hierarchy");
        string stale = Path.Combine(memory, "husk", "husk-2147483646-5-1");
        Directory.CreateDirectory(stale);
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--memory", "64M", "--", "/bin/true"]);
        Assert.Equal(0, r.Code);
        Assert.False(Directory.Exists(stale));
    }
}
