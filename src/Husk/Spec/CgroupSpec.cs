using System.Collections.Immutable;

namespace Husk;

/// <summary>
/// A cgroup of the sandbox's own at a path chosen by the caller (OCI's cgroupsPath), holding the
/// whole sandbox from its first instruction, with the limits of <see cref="Resources"/>. Unlike the
/// cgroups of <see cref="ResourceLimits"/> (made and removed around one supervised run), this one
/// outlives the process that starts the sandbox: husk-runtime finds it
/// again to freeze, update, list or remove it.
/// </summary>
public sealed record CgroupSpec(string Path)
{
    /// <summary>The limits written into the cgroup before the sandbox starts.</summary>
    public CgroupResources Resources { get; init; } = new();
    /// <summary>Go on without a cgroup (saying so) when it cannot be made and no limit is asked for, as rootless runtimes do.</summary>
    public bool Optional { get; init; }
}

/// <summary>Limits of a <see cref="CgroupSpec"/> (OCI's linux.resources); null leaves a value as the kernel has it.</summary>
public sealed record CgroupResources
{
    /// <summary>Memory limit in bytes (-1: none).</summary>
    public long? MemoryLimit { get; init; }
    /// <summary>Memory soft limit in bytes.</summary>
    public long? MemoryReservation { get; init; }
    /// <summary>Memory plus swap in bytes (-1: none).</summary>
    public long? MemorySwap { get; init; }
    /// <summary>Kernel memory limit (cgroup v1 only, ignored where the kernel has none).</summary>
    public long? MemoryKernel { get; init; }
    /// <summary>Kernel TCP buffer memory limit (cgroup v1 only).</summary>
    public long? MemoryKernelTcp { get; init; }
    /// <summary>Swappiness, 0 to 100 (cgroup v1 only).</summary>
    public ulong? Swappiness { get; init; }
    /// <summary>Turn the OOM killer off for the cgroup (cgroup v1 only).</summary>
    public bool? DisableOomKiller { get; init; }
    /// <summary>Relative CPU weight (v1 cpu.shares; converted to cpu.weight on v2).</summary>
    public ulong? CpuShares { get; init; }
    /// <summary>CPU time in microseconds per <see cref="CpuPeriod"/> (-1: none).</summary>
    public long? CpuQuota { get; init; }
    /// <summary>The period of <see cref="CpuQuota"/> in microseconds.</summary>
    public ulong? CpuPeriod { get; init; }
    /// <summary>Real-time runtime in microseconds per <see cref="CpuRealtimePeriod"/> (cgroup v1 only).</summary>
    public long? CpuRealtimeRuntime { get; init; }
    /// <summary>Real-time period in microseconds (cgroup v1 only).</summary>
    public ulong? CpuRealtimePeriod { get; init; }
    /// <summary>CPUs the sandbox may run on ("0-3,6").</summary>
    public string? Cpus { get; init; }
    /// <summary>Memory nodes the sandbox may use.</summary>
    public string? Mems { get; init; }
    /// <summary>Processes and threads (-1 or 0: none).</summary>
    public long? PidsLimit { get; init; }
    /// <summary>Block I/O weight, 10 to 1000.</summary>
    public ushort? BlockIoWeight { get; init; }
    /// <summary>Block I/O weight of the cgroup's own tasks against its children (cgroup v1 only).</summary>
    public ushort? BlockIoLeafWeight { get; init; }
    /// <summary>Per-device weights.</summary>
    public ImmutableArray<DeviceWeight> BlockIoDeviceWeights { get; init; } = [];
    /// <summary>Per-device throttles: blkio.throttle.* files on v1, io.max on v2.</summary>
    public ImmutableArray<DeviceThrottle> BlockIoThrottles { get; init; } = [];
    /// <summary>Huge page limits in bytes by page size ("2MB").</summary>
    public ImmutableArray<HugepageLimit> Hugepages { get; init; } = [];
    /// <summary>Class id of the sandbox's packets (net_cls, cgroup v1 only).</summary>
    public uint? NetworkClassId { get; init; }
    /// <summary>Priorities of the sandbox's traffic by interface (net_prio, cgroup v1 only).</summary>
    public ImmutableArray<InterfacePriority> NetworkPriorities { get; init; } = [];
    /// <summary>Device access rules, applied in order (the devices controller of cgroup v1).</summary>
    public ImmutableArray<DeviceRule> Devices { get; init; } = [];
    /// <summary>cgroup v2 files written as given ("memory.high" = "1G").</summary>
    public ImmutableArray<KeyValuePair<string, string>> Unified { get; init; } = [];

    /// <summary>True when any limit is asked for (device rules included).</summary>
    public bool Any =>
        MemoryLimit is not null || MemoryReservation is not null || MemorySwap is not null || MemoryKernel is not null || MemoryKernelTcp is not null
        || Swappiness is not null || DisableOomKiller is not null || CpuShares is not null || CpuQuota is not null || CpuPeriod is not null
        || CpuRealtimeRuntime is not null || CpuRealtimePeriod is not null || Cpus is not null || Mems is not null || PidsLimit is not null
        || BlockIoWeight is not null || BlockIoLeafWeight is not null || BlockIoDeviceWeights.Length > 0 || BlockIoThrottles.Length > 0
        || Hugepages.Length > 0 || NetworkClassId is not null || NetworkPriorities.Length > 0 || Devices.Length > 0 || Unified.Length > 0;
}

/// <summary>A block device's I/O weight.</summary>
public readonly record struct DeviceWeight(long Major, long Minor, ushort? Weight, ushort? LeafWeight);

/// <summary>Which I/O throttle a <see cref="DeviceThrottle"/> sets.</summary>
public enum ThrottleKind
{
    /// <summary>Bytes read per second.</summary>
    ReadBytesPerSecond,
    /// <summary>Bytes written per second.</summary>
    WriteBytesPerSecond,
    /// <summary>Read operations per second.</summary>
    ReadIopsPerSecond,
    /// <summary>Write operations per second.</summary>
    WriteIopsPerSecond,
}

/// <summary>A block device's I/O throttle.</summary>
public readonly record struct DeviceThrottle(ThrottleKind Kind, long Major, long Minor, ulong Rate);

/// <summary>A limit on huge pages of one size ("2MB", "1GB").</summary>
public readonly record struct HugepageLimit(string PageSize, ulong Limit);

/// <summary>A network priority for one interface.</summary>
public readonly record struct InterfacePriority(string Interface, uint Priority);

/// <summary>
/// A device access rule: allow or deny <see cref="Access"/> ("rwm" letters) to devices of
/// <see cref="Type"/> ('a' all, 'c', 'b') with the given numbers (null: any).
/// </summary>
public readonly record struct DeviceRule(bool Allow, char Type, long? Major, long? Minor, string Access);
