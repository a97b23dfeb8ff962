using System.Globalization;
using Husk.Resources;

namespace Husk.Tests;

/// <summary>
/// The cgroup drivers: v2 against a fake tree of plain files (no privilege, no cgroupfs needed),
/// and for real as root: v2 where a hierarchy is mounted (this host's is empty of controllers:
/// placement, kill and CPU accounting still work), v1 with its controllers.
/// </summary>
public class CgroupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("husk-cgroup-").FullName;

    public void Dispose() => TestEnvironment.DeleteTree(_dir);

    [Fact]
    public void V2_writes_the_limits_its_controllers_hold()
    {
        File.WriteAllText(Path.Combine(_dir, "cgroup.subtree_control"), "cpu memory pids\n");
        var limits = new ResourceLimits { MemoryBytes = 64 << 20, Processes = 10, Cpus = 0.5 };
        using var cg = CgroupV2.Create(_dir, limits, fake: true);
        Assert.True(cg.HasMemory && cg.HasPids && cg.HasCpu);
        Assert.StartsWith(Path.Combine(_dir, $"husk-{Environment.ProcessId}-"), cg.Path);
        string Read(string file) => File.ReadAllText(Path.Combine(cg.Path, file)).Trim();
        Assert.Equal((64 << 20).ToString(CultureInfo.InvariantCulture), Read("memory.max"));
        Assert.Equal("0", Read("memory.swap.max"));
        Assert.Equal("1", Read("memory.oom.group"));
        Assert.Equal("11", Read("pids.max")); // and husk-init
        Assert.Equal("50000 100000", Read("cpu.max"));
    }

    [Fact]
    public void V2_without_controllers_writes_nothing_and_reads_what_is_there()
    {
        File.WriteAllText(Path.Combine(_dir, "cgroup.subtree_control"), "");
        using var cg = CgroupV2.Create(_dir, new ResourceLimits { MemoryBytes = 1 << 20 }, fake: true);
        Assert.False(cg.HasMemory || cg.HasPids || cg.HasCpu);
        Assert.False(File.Exists(Path.Combine(cg.Path, "memory.max")));
        File.WriteAllText(Path.Combine(cg.Path, "cpu.stat"), "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
        var stats = cg.Read();
        Assert.Equal(TimeSpan.FromSeconds(1.5), stats.Total);
        Assert.Equal(TimeSpan.FromSeconds(1), stats.User);
        Assert.Null(stats.MemoryPeak);
    }

    [Fact]
    public void V2_reads_peak_memory_and_oom_kills()
    {
        File.WriteAllText(Path.Combine(_dir, "cgroup.subtree_control"), "memory pids");
        using var cg = CgroupV2.Create(_dir, new ResourceLimits { MemoryBytes = 1 << 20 }, fake: true);
        File.WriteAllText(Path.Combine(cg.Path, "memory.peak"), "4096\n");
        File.WriteAllText(Path.Combine(cg.Path, "memory.current"), "1024\n");
        File.WriteAllText(Path.Combine(cg.Path, "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n");
        File.WriteAllText(Path.Combine(cg.Path, "pids.peak"), "7\n");
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
        foreach (string name in new[] { ours, crashed, gone, "other" })
            Directory.CreateDirectory(Path.Combine(_dir, name));
        Cgroup.CleanStale(_dir);
        Assert.Equal([ours, "other"], Directory.GetDirectories(_dir).Select(Path.GetFileName).Order().ToArray());
    }

    [Fact]
    public void Mountinfo_gives_the_hierarchies()
    {
        string mountinfo = Path.Combine(_dir, "mountinfo");
        File.WriteAllText(mountinfo,
            "30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n" +
            "31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n" +
            "35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory\n" +
            "36 30 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n");
        var mounts = Cgroup.Mounts(mountinfo).ToList();
        Assert.Equal(3, mounts.Count);
        Assert.Equal(("/sys/fs/cgroup/unified", "cgroup2"), (mounts[0].MountPoint, mounts[0].FsType));
        Assert.Contains("cpuacct", mounts[2].Options);
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
    private static string? V2Mount() => Cgroup.Mounts().Where(m => m.FsType == "cgroup2").Select(m => m.MountPoint).FirstOrDefault();

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
        var hierarchies = CgroupV1.FindHierarchies();
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
        var hierarchies = CgroupV1.FindHierarchies();
        if (!hierarchies.TryGetValue("memory", out string? memory))
            Assert.Skip("no cgroup v1 memory hierarchy");
        string stale = Path.Combine(memory, "husk", "husk-2147483646-5-1");
        Directory.CreateDirectory(stale);
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--memory", "64M", "--", "/bin/true"]);
        Assert.Equal(0, r.Code);
        Assert.False(Directory.Exists(stale));
    }
}
