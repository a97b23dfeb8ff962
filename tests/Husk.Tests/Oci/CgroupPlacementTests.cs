using Husk.Resources;

namespace Husk.Tests.Oci;

/// <summary>The persistent cgroup of a container (OCI's cgroupsPath and resources), on a made-up hybrid hierarchy.</summary>
public class CgroupPlacementTests
{
    private static FakeCgroupFs Hybrid() => new FakeCgroupFs(0)
        .MountV1("/sys/fs/cgroup/memory", "memory")
        .MountV1("/sys/fs/cgroup/pids", "pids")
        .MountV1("/sys/fs/cgroup/cpu,cpuacct", "cpu,cpuacct")
        .MountV1("/sys/fs/cgroup/devices", "devices")
        .MountV1("/sys/fs/cgroup/freezer", "freezer")
        .MountV2("/sys/fs/cgroup/unified", "");

    [Fact]
    public void The_cgroup_is_made_in_every_hierarchy_with_runcs_files()
    {
        var fs = Hybrid();
        var spec = new CgroupSpec("/apps/c1")
        {
            Resources = new CgroupResources
            {
                MemoryLimit = 100, MemoryReservation = 50, PidsLimit = 7, CpuShares = 512, CpuQuota = 5000, CpuPeriod = 10000,
                Devices = [new DeviceRule(false, 'a', null, null, "rwm"), new DeviceRule(true, 'c', 1, 3, "rwm")],
            },
        };
        var placement = CgroupPlacement.Create(fs, spec, out string? warning)!;
        Assert.Null(warning);
        Assert.Equal(
            ["/sys/fs/cgroup/memory/apps/c1", "/sys/fs/cgroup/pids/apps/c1", "/sys/fs/cgroup/cpu,cpuacct/apps/c1", "/sys/fs/cgroup/devices/apps/c1", "/sys/fs/cgroup/freezer/apps/c1", "/sys/fs/cgroup/unified/apps/c1"],
            placement.Directories);
        var writes = fs.Writes.Where(w => w.Path.Contains("/apps/c1/", StringComparison.Ordinal)).ToList();
        Assert.Contains(("/sys/fs/cgroup/memory/apps/c1/memory.limit_in_bytes", "100"), writes);
        Assert.Contains(("/sys/fs/cgroup/memory/apps/c1/memory.soft_limit_in_bytes", "50"), writes);
        Assert.Contains(("/sys/fs/cgroup/pids/apps/c1/pids.max", "7"), writes);
        Assert.Contains(("/sys/fs/cgroup/cpu,cpuacct/apps/c1/cpu.shares", "512"), writes);
        // The period before the quota (a quota above the old period's would be refused).
        Assert.True(writes.IndexOf(("/sys/fs/cgroup/cpu,cpuacct/apps/c1/cpu.cfs_period_us", "10000")) < writes.IndexOf(("/sys/fs/cgroup/cpu,cpuacct/apps/c1/cpu.cfs_quota_us", "5000")));
        Assert.Equal([("/sys/fs/cgroup/devices/apps/c1/devices.deny", "a"), ("/sys/fs/cgroup/devices/apps/c1/devices.allow", "c 1:3 rwm")],
            writes.Where(w => w.Path.Contains("/devices.", StringComparison.Ordinal)));

        placement.Attach(4242);
        Assert.Equal(6, fs.Writes.Count(w => w.Path.EndsWith("/apps/c1/cgroup.procs", StringComparison.Ordinal) && w.Value == "4242"));

        // Later commands find it again from the directories recorded.
        var again = CgroupPlacement.Open(fs, placement.Directories);
        Assert.True(again.Freeze(true));
        Assert.Contains(("/sys/fs/cgroup/freezer/apps/c1/freezer.state", "FROZEN"), fs.Writes);
    }

    [Fact]
    public void A_limit_the_hierarchy_lacks_fails_naming_the_file_and_leaves_nothing()
    {
        var fs = new FakeCgroupFs(0).MountV1("/sys/fs/cgroup/memory", "memory");
        var spec = new CgroupSpec("/apps/c2") { Resources = new CgroupResources { PidsLimit = 5 } };
        var e = Assert.Throws<global::Husk.SandboxSetupException>(() => CgroupPlacement.Create(fs, spec, out _));
        Assert.Contains("cgroup /apps/c2", e.Message, StringComparison.Ordinal);
        Assert.Contains("pids controller", e.Message, StringComparison.Ordinal);
        Assert.False(fs.DirectoryExists("/sys/fs/cgroup/memory/apps/c2"));
    }

    [Fact]
    public void A_relative_path_is_below_the_callers_own_cgroup() =>
        Assert.Equal("/a/b", CgroupPlacement.Resolve(new FakeCgroupFs(0).MountV2("/sys/fs/cgroup", ""), true, [], "a/b"));
}
