using System.Globalization;
using Husk.Resources;

namespace Husk.Cli.Personalities.Oci;

/// <summary><c>pause</c>, <c>resume</c> and <c>update</c>: through the container's cgroup.</summary>
internal static class ControlCommands
{
    public static int Pause(OciContext ctx, string[] args) => Freeze(ctx, args, "pause", true);

    public static int Resume(OciContext ctx, string[] args) => Freeze(ctx, args, "resume", false);

    private static int Freeze(OciContext ctx, string[] args, string command, bool frozen)
    {
        var line = OciCommandLine.Parse(args, [], command: command);
        string id = OciPersonality.OneId(line, command);
        var state = ctx.Store.Require(id);
        string status = state.Status(ctx.Store);
        if (status is "stopped" or "creating")
            throw new OciRuntimeException("container not running");
        if (frozen && status != "running")
            throw new OciRuntimeException($"container not running: it is {status}");
        if (!frozen && status != "paused")
            throw new OciRuntimeException("container not paused");
        if (state.CgroupDirectories.Length == 0 || !CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories).Freeze(frozen))
            throw new OciRuntimeException($"cannot {command} {id}: it has no freezer cgroup (rootless, or no freezer controller)");
        return 0;
    }

    public static readonly OciOption[] UpdateOptions =
    [
        new(["resources", "r"], true), new(["memory"], true), new(["memory-reservation"], true), new(["memory-swap"], true),
        new(["kernel-memory"], true), new(["kernel-memory-tcp"], true), new(["cpu-shares"], true), new(["cpu-quota"], true),
        new(["cpu-period"], true), new(["cpu-rt-period"], true), new(["cpu-rt-runtime"], true), new(["cpuset-cpus"], true),
        new(["cpuset-mems"], true), new(["pids-limit"], true), new(["blkio-weight"], true), new(["l3-cache-schema"], true),
        new(["mem-bw-schema"], true),
    ];

    /// <summary>
    /// <c>update [--resources FILE|-] [--memory N ...] ID</c>: new limits for a running container
    /// (podman passes a file, containerd "-" for stdin; runc's single-value flags take sizes as bytes or 10m).
    /// </summary>
    public static int Update(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, UpdateOptions, command: "update");
        string id = OciPersonality.OneId(line, "update");
        var state = ctx.Store.Require(id);
        if (state.Status(ctx.Store) == "stopped")
            throw new OciRuntimeException("container not running");
        var resources = new CgroupResources();
        if (line.Value("resources") is { } file)
        {
            string json = file == "-" ? Console.In.ReadToEnd() : File.ReadAllText(file);
            var doc = ConfigNode.Parse(json, file == "-" ? "the resources on stdin" : file);
            resources = OciResources.Parse(doc);
        }
        long? Size(string flag) => line.Value(flag) is { } v ? ParseSize(v, flag) : null;
        ulong? Number(string flag) => line.Value(flag) is { } v
            ? ulong.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) ? n : throw new OciUsageException($"invalid value for {flag}: {v}")
            : null;
        resources = resources with
        {
            MemoryLimit = Size("memory") ?? resources.MemoryLimit,
            MemoryReservation = Size("memory-reservation") ?? resources.MemoryReservation,
            MemorySwap = Size("memory-swap") ?? resources.MemorySwap,
            MemoryKernel = Size("kernel-memory") ?? resources.MemoryKernel,
            MemoryKernelTcp = Size("kernel-memory-tcp") ?? resources.MemoryKernelTcp,
            CpuShares = Number("cpu-shares") ?? resources.CpuShares,
            CpuQuota = Size("cpu-quota") ?? resources.CpuQuota,
            CpuPeriod = Number("cpu-period") ?? resources.CpuPeriod,
            CpuRealtimePeriod = Number("cpu-rt-period") ?? resources.CpuRealtimePeriod,
            CpuRealtimeRuntime = Size("cpu-rt-runtime") ?? resources.CpuRealtimeRuntime,
            Cpus = line.Value("cpuset-cpus") ?? resources.Cpus,
            Mems = line.Value("cpuset-mems") ?? resources.Mems,
            PidsLimit = Size("pids-limit") ?? resources.PidsLimit,
            BlockIoWeight = Number("blkio-weight") is { } bw ? (ushort)bw : resources.BlockIoWeight,
        };
        if (line.Has("l3-cache-schema") || line.Has("mem-bw-schema"))
            throw new OciRuntimeException("Intel RDT is not supported by husk-runtime");
        if (state.CgroupDirectories.Length == 0)
            throw new OciRuntimeException($"cannot update {id}: it has no cgroup (rootless)");
        try
        {
            CgroupPlacement.Open(HostCgroupFs.Instance, state.CgroupDirectories).Apply(resources);
        }
        catch (SyscallException e)
        {
            throw new OciRuntimeException($"unable to set the container's limits: {e.Message}");
        }
        return 0;
    }

    /// <summary>A size as runc's update takes it: bytes, or with a unit (k, m, g, t; "b" optional), or -1.</summary>
    internal static long ParseSize(string value, string flag)
    {
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
            return n;
        if (LimitUnits.TryParseSize(value, out long bytes))
            return bytes;
        throw new OciUsageException($"invalid value for {flag}: {value}");
    }
}
