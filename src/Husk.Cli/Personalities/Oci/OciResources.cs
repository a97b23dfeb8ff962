using System.Collections.Immutable;

namespace Husk.Cli.Personalities.Oci;

/// <summary>OCI's linux.resources (also <c>update --resources</c>'s document) as the engine's <see cref="CgroupResources"/>.</summary>
internal static class OciResources
{
    public static CgroupResources Parse(ConfigNode r)
    {
        var memory = r.Field("memory");
        var cpu = r.Field("cpu");
        var blockIo = r.Field("blockIO");
        var network = r.Field("network");
        if (r.Field("rdma") is { } rdma && rdma.Fields().Any())
            throw rdma.Error("the rdma controller is not supported by husk-runtime");
        ulong? swappiness = memory?.UInt64("swappiness");
        if (swappiness is > 100)
            throw memory!.Value.Required("swappiness").Error("must be 0 to 100");
        ushort? weight = blockIo?.UInt16("weight");
        if (weight is { } w && (w < 10 || w > 1000))
            throw blockIo!.Value.Required("weight").Error("must be 10 to 1000");
        return new CgroupResources
        {
            MemoryLimit = memory?.Int64("limit"),
            MemoryReservation = memory?.Int64("reservation"),
            MemorySwap = memory?.Int64("swap"),
            MemoryKernel = memory?.Int64("kernel"),
            MemoryKernelTcp = memory?.Int64("kernelTCP"),
            Swappiness = swappiness,
            DisableOomKiller = memory?.Bool("disableOOMKiller"),
            CpuShares = cpu?.UInt64("shares"),
            CpuQuota = cpu?.Int64("quota"),
            CpuPeriod = cpu?.UInt64("period"),
            CpuRealtimeRuntime = cpu?.Int64("realtimeRuntime"),
            CpuRealtimePeriod = cpu?.UInt64("realtimePeriod"),
            Cpus = cpu?.String("cpus"),
            Mems = cpu?.String("mems"),
            PidsLimit = r.Field("pids")?.Int64("limit"),
            BlockIoWeight = weight,
            BlockIoLeafWeight = blockIo?.UInt16("leafWeight"),
            BlockIoDeviceWeights = blockIo is { } b1 ? [.. b1.Array("weightDevice").Select(d => new DeviceWeight(
                d.Int64("major") ?? throw d.Error("major: missing (required)"),
                d.Int64("minor") ?? throw d.Error("minor: missing (required)"),
                d.UInt16("weight"),
                d.UInt16("leafWeight")))] : [],
            BlockIoThrottles = blockIo is { } b2 ? [.. Throttles(b2)] : [],
            Hugepages = [.. r.Array("hugepageLimits").Select(h => new HugepageLimit(
                h.String("pageSize") ?? throw h.Error("pageSize: missing (required)"),
                h.UInt64("limit") ?? throw h.Error("limit: missing (required)")))],
            NetworkClassId = network?.UInt32("classID"),
            NetworkPriorities = network is { } n ? [.. n.Array("priorities").Select(p => new InterfacePriority(
                p.String("name") ?? throw p.Error("name: missing (required)"),
                p.UInt32("priority") ?? throw p.Error("priority: missing (required)")))] : [],
            Devices = [.. r.Array("devices").Select(DeviceRuleOf)],
            Unified = [.. r.StringMap("unified")],
        };
    }

    private static IEnumerable<DeviceThrottle> Throttles(ConfigNode b)
    {
        (string, ThrottleKind)[] kinds =
        [
            ("throttleReadBpsDevice", ThrottleKind.ReadBytesPerSecond), ("throttleWriteBpsDevice", ThrottleKind.WriteBytesPerSecond),
            ("throttleReadIOPSDevice", ThrottleKind.ReadIopsPerSecond), ("throttleWriteIOPSDevice", ThrottleKind.WriteIopsPerSecond),
        ];
        foreach (var (name, kind) in kinds)
        {
            foreach (var d in b.Array(name))
            {
                yield return new DeviceThrottle(kind,
                    d.Int64("major") ?? throw d.Error("major: missing (required)"),
                    d.Int64("minor") ?? throw d.Error("minor: missing (required)"),
                    d.UInt64("rate") ?? throw d.Error("rate: missing (required)"));
            }
        }
    }

    private static DeviceRule DeviceRuleOf(ConfigNode d)
    {
        bool allow = d.Bool("allow") ?? throw d.Error("allow: missing (required)");
        string type = d.String("type") ?? "a";
        if (type is not ("a" or "c" or "b"))
            throw d.Required("type").Error($"\"{type}\" is not a, c or b");
        string access = d.String("access") ?? "rwm";
        if (access.Any(ch => ch is not ('r' or 'w' or 'm')))
            throw d.Required("access").Error($"\"{access}\" is not made of r, w and m");
        return new DeviceRule(allow, type[0], d.Int64("major"), d.Int64("minor"), access);
    }

    /// <summary>
    /// The devices a container may always use (runc's AllowedDevices): after the config's own rules,
    /// so a deny-all first rule still leaves /dev/null and the terminals working.
    /// </summary>
    public static ImmutableArray<DeviceRule> DefaultAllowedDevices { get; } =
    [
        new(true, 'c', null, null, "m"), new(true, 'b', null, null, "m"),
        new(true, 'c', 1, 3, "rwm"), new(true, 'c', 1, 8, "rwm"), new(true, 'c', 1, 7, "rwm"),
        new(true, 'c', 5, 0, "rwm"), new(true, 'c', 1, 5, "rwm"), new(true, 'c', 1, 9, "rwm"),
        new(true, 'c', 5, 1, "rwm"), new(true, 'c', 136, null, "rwm"), new(true, 'c', 5, 2, "rwm"),
    ];
}
