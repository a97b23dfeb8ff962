using System.Globalization;
using Husk.Interop;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Resources;

/// <summary>One cgroup hierarchy the sandbox has a directory in.</summary>
/// <param name="MountPoint">Where the hierarchy is mounted.</param>
/// <param name="Version2">A cgroup v2 hierarchy (the unified one of a hybrid system included).</param>
/// <param name="Controllers">The controllers it holds (v1: of its mount options, "name=..." for a named one; v2: of cgroup.controllers).</param>
/// <param name="Directory">The sandbox's cgroup in it.</param>
internal sealed record CgroupHierarchy(string MountPoint, bool Version2, string[] Controllers, string Directory);

/// <summary>
/// The cgroup of a <see cref="CgroupSpec"/> in every mounted hierarchy (cgroup v2, v1, or both on a
/// hybrid system): made with its limits before the clone, joined by the child before it runs
/// anything, and found again by later commands (freeze, update, list, kill, remove) from the
/// directories recorded. What it writes follows runc's cgroupfs driver, file for file.
/// </summary>
internal sealed class CgroupPlacement
{
    private static readonly string[] V1Controllers =
        ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls", "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc"];

    private readonly ICgroupFs _fs;

    private CgroupPlacement(ICgroupFs fs, IReadOnlyList<CgroupHierarchy> hierarchies)
    {
        _fs = fs;
        Hierarchies = hierarchies;
    }

    /// <summary>The sandbox's directory in each hierarchy.</summary>
    public IReadOnlyList<CgroupHierarchy> Hierarchies { get; }

    /// <summary>The directories, as state files record them.</summary>
    public IEnumerable<string> Directories => Hierarchies.Select(h => h.Directory);

    /// <summary>The mounted hierarchies: (mount point, v2, controllers).</summary>
    internal static List<(string Mount, bool V2, string[] Controllers)> FindHierarchies(ICgroupFs fs)
    {
        var result = new List<(string, bool, string[])>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (mount, type, options) in Cgroup.Mounts(fs))
        {
            if (!seen.Add(mount))
                continue;
            if (type == "cgroup2")
            {
                string[] controllers = (fs.ReadText(Path.Combine(mount, "cgroup.controllers")) ?? "").Split(' ', '\n', StringSplitOptions.RemoveEmptyEntries);
                result.Add((mount, true, controllers));
            }
            else if (type == "cgroup")
            {
                string[] controllers = [.. options.Where(o => V1Controllers.Contains(o) || o.StartsWith("name=", StringComparison.Ordinal))];
                if (controllers.Length > 0 && !result.Any(r => !r.Item2 && r.Item3.SequenceEqual(controllers)))
                    result.Add((mount, false, controllers));
            }
        }
        return result;
    }

    /// <summary>
    /// The cgroup path in one hierarchy: an absolute path is taken from the hierarchy's root, a
    /// relative one from the caller's own cgroup there (/proc/self/cgroup).
    /// </summary>
    internal static string Resolve(ICgroupFs fs, bool v2, string[] controllers, string path)
    {
        if (path.StartsWith('/'))
            return path;
        string own = "/";
        foreach (string line in (fs.ReadText("/proc/self/cgroup") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length < 3)
                continue;
            bool match = v2 ? parts[1].Length == 0 : parts[1].Split(',').Intersect(controllers).Any();
            if (match)
            {
                own = parts[2];
                break;
            }
        }
        return own.TrimEnd('/') + "/" + path;
    }

    /// <summary>
    /// Makes the cgroup in every hierarchy and writes its limits. Null (with <paramref name="warning"/>
    /// saying why) when it cannot be made, the spec allows that and asks for no limit (a rootless runtime).
    /// </summary>
    public static CgroupPlacement? Create(ICgroupFs fs, CgroupSpec spec, out string? warning)
    {
        warning = null;
        var made = new List<string>();
        var hierarchies = new List<CgroupHierarchy>();
        try
        {
            foreach (var (mount, v2, controllers) in FindHierarchies(fs))
            {
                string relative = Resolve(fs, v2, controllers, spec.Path).Trim('/');
                string dir = relative.Length == 0 ? mount : Path.Combine(mount, relative);
                MakeDirectories(fs, mount, relative, controllers.Contains("cpuset") && !v2, made);
                hierarchies.Add(new CgroupHierarchy(mount, v2, controllers, dir));
            }
            if (hierarchies.Count == 0)
                throw new SyscallException("mount", "no cgroup hierarchy is mounted (/sys/fs/cgroup)", Errno.ENOENT);
            var placement = new CgroupPlacement(fs, hierarchies);
            placement.Apply(spec.Resources);
            return placement;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
        {
            foreach (string dir in Enumerable.Reverse(made))
                Cgroup.KillAndRemove(fs, dir, TimeSpan.FromSeconds(1));
            var errno = e is SyscallException se ? se.Errno : e is UnauthorizedAccessException ? Errno.EACCES : Errno.EIO;
            if (spec.Optional && !spec.Resources.Any && errno is Errno.EACCES or Errno.EPERM or Errno.EROFS)
            {
                warning = $"husk: no cgroup {spec.Path} for the container: {ErrorText.Of(e)}";
                return null;
            }
            throw new SandboxSetupException($"husk: cgroup {spec.Path}: {ErrorText.Of(e)}", errno);
        }
    }

    /// <summary>The cgroup a state file recorded; directories that are gone are left out.</summary>
    public static CgroupPlacement Open(ICgroupFs fs, IEnumerable<string> directories)
    {
        var all = FindHierarchies(fs);
        var hierarchies = new List<CgroupHierarchy>();
        foreach (string dir in directories)
        {
            var h = all.Where(m => dir == m.Mount || dir.StartsWith(m.Mount + "/", StringComparison.Ordinal)).OrderByDescending(m => m.Mount.Length).FirstOrDefault();
            if (h.Mount is not null && fs.DirectoryExists(dir))
                hierarchies.Add(new CgroupHierarchy(h.Mount, h.V2, h.Controllers, dir));
        }
        return new CgroupPlacement(fs, hierarchies);
    }

    /// <summary>Creates each missing level below the mount; a new cpuset level takes its parent's cpus and mems, without which nothing can join it.</summary>
    private static void MakeDirectories(ICgroupFs fs, string mount, string relative, bool cpuset, List<string> made)
    {
        string dir = mount;
        foreach (string part in relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            string parent = dir;
            dir = Path.Combine(dir, part);
            if (fs.DirectoryExists(dir))
                continue;
            fs.CreateDirectory(dir);
            made.Add(dir);
            if (cpuset)
            {
                foreach (string file in new[] { "cpuset.cpus", "cpuset.mems" })
                {
                    if ((fs.ReadText(Path.Combine(dir, file)) ?? "").Trim().Length == 0)
                        fs.Write(Path.Combine(dir, file), (fs.ReadText(Path.Combine(parent, file)) ?? "").Trim());
                }
            }
        }
    }

    /// <summary>Moves a process (the cloned child, before it runs anything) into the cgroup in every hierarchy.</summary>
    public void Attach(int pid)
    {
        string text = pid.ToString(CultureInfo.InvariantCulture);
        foreach (var h in Hierarchies)
            _fs.Write(Path.Combine(h.Directory, "cgroup.procs"), text);
    }

    /// <summary>The directory of the hierarchy that holds <paramref name="controller"/>: v1 first, else v2 where it is enabled.</summary>
    private CgroupHierarchy? Holding(string controller) =>
        Hierarchies.FirstOrDefault(h => !h.Version2 && h.Controllers.Contains(controller))
        ?? Hierarchies.FirstOrDefault(h => h.Version2 && h.Controllers.Contains(controller));

    /// <summary>The single v2 hierarchy, if any.</summary>
    private CgroupHierarchy? Unified => Hierarchies.FirstOrDefault(h => h.Version2);

    /// <summary>Writes a file of the controller's cgroup; with <paramref name="v2Name"/> the v2 file when only v2 has the controller.</summary>
    private void Set(string controller, string v1Name, string? v2Name, string value)
    {
        var h = Holding(controller) ?? throw new SyscallException("write", $"{controller} controller", Errno.ENOENT);
        if (h.Version2)
        {
            if (v2Name is null)
                throw new SyscallException("write", $"{v1Name} (the {controller} controller is on cgroup v2, which has no such file)", Errno.ENOENT);
            Enable(h, controller);
            _fs.Write(Path.Combine(h.Directory, v2Name), value);
            return;
        }
        _fs.Write(Path.Combine(h.Directory, v1Name), value);
    }

    /// <summary>Enables a v2 controller from the hierarchy's root down to the sandbox's parent (no internal processes below the root).</summary>
    private void Enable(CgroupHierarchy h, string controller)
    {
        string rel = Path.GetRelativePath(h.MountPoint, h.Directory);
        string dir = h.MountPoint;
        foreach (string part in rel.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            _fs.TryWrite(Path.Combine(dir, "cgroup.subtree_control"), "+" + controller);
            dir = Path.Combine(dir, part);
        }
    }

    private static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string N(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Writes the limits (creation, and <c>update</c>); throws naming the file that refused.</summary>
    public void Apply(CgroupResources r)
    {
        bool memoryV2 = Holding("memory")?.Version2 == true;
        if (r.MemoryLimit is { } limit)
        {
            if (memoryV2)
            {
                Set("memory", "", "memory.max", limit < 0 ? "max" : N(limit));
            }
            else
            {
                // memory.limit_in_bytes may not exceed memsw.limit_in_bytes: raise the latter first when growing.
                var h = Holding("memory")!;
                if (_fs.TryWrite(Path.Combine(h.Directory, "memory.limit_in_bytes"), N(limit)) != 0)
                {
                    if (r.MemorySwap is { } sw)
                        _fs.Write(Path.Combine(h.Directory, "memory.memsw.limit_in_bytes"), N(sw));
                    _fs.Write(Path.Combine(h.Directory, "memory.limit_in_bytes"), N(limit));
                }
            }
        }
        if (r.MemorySwap is { } swap)
        {
            if (memoryV2)
                Set("memory", "", "memory.swap.max", swap < 0 ? "max" : N(Math.Max(0, swap - (r.MemoryLimit ?? 0))));
            else
                Set("memory", "memory.memsw.limit_in_bytes", null, N(swap));
        }
        if (r.MemoryReservation is { } reservation)
            Set("memory", "memory.soft_limit_in_bytes", "memory.low", N(reservation));
        if (r.MemoryKernel is { } kernel && !memoryV2)
            TrySetOptional("memory", "memory.kmem.limit_in_bytes", N(kernel));
        if (r.MemoryKernelTcp is { } tcp && !memoryV2)
            TrySetOptional("memory", "memory.kmem.tcp.limit_in_bytes", N(tcp));
        if (r.Swappiness is { } swappiness && !memoryV2)
            Set("memory", "memory.swappiness", null, N(swappiness));
        if (r.DisableOomKiller == true && !memoryV2)
            Set("memory", "memory.oom_control", null, "1");

        bool cpuV2 = Holding("cpu")?.Version2 == true;
        if (r.CpuShares is { } shares)
            Set("cpu", "cpu.shares", "cpu.weight", cpuV2 ? N(shares == 0 ? 100 : 1 + (shares - 2) * 9999 / 262142) : N(shares));
        if (cpuV2 && (r.CpuQuota is not null || r.CpuPeriod is not null))
        {
            Set("cpu", "", "cpu.max", $"{(r.CpuQuota is { } q && q > 0 ? N(q) : "max")} {N(r.CpuPeriod ?? 100000)}");
        }
        else
        {
            if (r.CpuPeriod is { } period)
                Set("cpu", "cpu.cfs_period_us", null, N(period));
            if (r.CpuQuota is { } quota)
                Set("cpu", "cpu.cfs_quota_us", null, N(quota));
        }
        if (r.CpuRealtimePeriod is { } rtPeriod)
            Set("cpu", "cpu.rt_period_us", null, N(rtPeriod));
        if (r.CpuRealtimeRuntime is { } rtRuntime)
            Set("cpu", "cpu.rt_runtime_us", null, N(rtRuntime));
        if (r.Cpus is { Length: > 0 } cpus)
            Set("cpuset", "cpuset.cpus", "cpuset.cpus", cpus);
        if (r.Mems is { Length: > 0 } mems)
            Set("cpuset", "cpuset.mems", "cpuset.mems", mems);

        if (r.PidsLimit is { } pids)
            Set("pids", "pids.max", "pids.max", pids > 0 ? N(pids) : "max");

        bool ioV2 = Holding("blkio") is null && Holding("io") is not null;
        if (r.BlockIoWeight is { } weight)
        {
            if (ioV2)
                Set("io", "", "io.weight", N((ulong)weight));
            else
                SetBlkio("weight", N((ulong)weight));
        }
        if (r.BlockIoLeafWeight is { } leaf)
            SetBlkio("leaf_weight", N((ulong)leaf));
        foreach (var d in r.BlockIoDeviceWeights)
        {
            if (d.Weight is { } w)
                SetBlkio("weight_device", $"{d.Major}:{d.Minor} {w}");
            if (d.LeafWeight is { } lw)
                SetBlkio("leaf_weight_device", $"{d.Major}:{d.Minor} {lw}");
        }
        foreach (var t in r.BlockIoThrottles)
        {
            if (ioV2)
            {
                string key = t.Kind switch { ThrottleKind.ReadBytesPerSecond => "rbps", ThrottleKind.WriteBytesPerSecond => "wbps", ThrottleKind.ReadIopsPerSecond => "riops", _ => "wiops" };
                Set("io", "", "io.max", $"{t.Major}:{t.Minor} {key}={t.Rate}");
                continue;
            }
            string file = t.Kind switch
            {
                ThrottleKind.ReadBytesPerSecond => "blkio.throttle.read_bps_device",
                ThrottleKind.WriteBytesPerSecond => "blkio.throttle.write_bps_device",
                ThrottleKind.ReadIopsPerSecond => "blkio.throttle.read_iops_device",
                _ => "blkio.throttle.write_iops_device",
            };
            Set("blkio", file, null, $"{t.Major}:{t.Minor} {t.Rate}");
        }

        foreach (var hp in r.Hugepages)
            Set("hugetlb", $"hugetlb.{hp.PageSize}.limit_in_bytes", $"hugetlb.{hp.PageSize}.max", N(hp.Limit));
        if (r.NetworkClassId is { } classId)
            Set("net_cls", "net_cls.classid", null, N((ulong)classId));
        foreach (var p in r.NetworkPriorities)
            Set("net_prio", "net_prio.ifpriomap", null, $"{p.Interface} {p.Priority}");

        if (r.Devices.Length > 0 && Holding("devices") is { Version2: false } devices)
        {
            foreach (var rule in r.Devices)
            {
                string major = rule.Major is { } ma ? N(ma) : "*", minor = rule.Minor is { } mi ? N(mi) : "*";
                string entry = rule.Type == 'a' ? "a" : $"{rule.Type} {major}:{minor} {(rule.Access.Length == 0 ? "rwm" : rule.Access)}";
                _fs.Write(Path.Combine(devices.Directory, rule.Allow ? "devices.allow" : "devices.deny"), entry);
            }
        }

        foreach (var (file, value) in r.Unified)
        {
            if (file.Contains('/') || file.StartsWith('.'))
                throw new SyscallException("write", $"unified {file}", Errno.EINVAL);
            var u = Unified ?? throw new SyscallException("write", $"unified {file} (no cgroup v2 hierarchy is mounted)", Errno.ENOENT);
            string controller = file.Split('.')[0];
            if (controller != "cgroup")
                Enable(u, controller);
            _fs.Write(Path.Combine(u.Directory, file), value);
        }
    }

    /// <summary>blkio.X, or blkio.bfq.X where the BFQ scheduler holds the weights (its files differ in name only).</summary>
    private void SetBlkio(string name, string value)
    {
        var h = Holding("blkio") ?? throw new SyscallException("write", "blkio controller", Errno.ENOENT);
        string plain = Path.Combine(h.Directory, "blkio." + name);
        string bfq = Path.Combine(h.Directory, "blkio.bfq." + name);
        _fs.Write(_fs.ReadText(plain) is null && _fs.ReadText(bfq) is not null ? bfq : plain, value);
    }

    /// <summary>A file newer kernels removed (kernel memory): written where it exists.</summary>
    private void TrySetOptional(string controller, string file, string value)
    {
        if (Holding(controller) is { Version2: false } h && _fs.ReadText(Path.Combine(h.Directory, file)) is not null)
            _fs.Write(Path.Combine(h.Directory, file), value);
    }

    /// <summary>Freezes or thaws every process of the cgroup; false when there is no freezer.</summary>
    public bool Freeze(bool frozen)
    {
        if (Holding("freezer") is { Version2: false } v1)
        {
            _fs.Write(Path.Combine(v1.Directory, "freezer.state"), frozen ? "FROZEN" : "THAWED");
            return true;
        }
        if (Unified is { } v2 && _fs.ReadText(Path.Combine(v2.Directory, "cgroup.freeze")) is not null)
        {
            _fs.Write(Path.Combine(v2.Directory, "cgroup.freeze"), frozen ? "1" : "0");
            return true;
        }
        return false;
    }

    /// <summary>Whether the cgroup is frozen (or freezing).</summary>
    public bool IsFrozen()
    {
        if (Holding("freezer") is { Version2: false } v1)
            return (_fs.ReadText(Path.Combine(v1.Directory, "freezer.state")) ?? "").Trim() is "FROZEN" or "FREEZING";
        if (Unified is { } v2)
            return (_fs.ReadText(Path.Combine(v2.Directory, "cgroup.freeze")) ?? "").Trim() == "1";
        return false;
    }

    /// <summary>The pids of every process in the cgroup (from one hierarchy: all hold the same processes).</summary>
    public List<int> Pids()
    {
        var h = Holding("memory") ?? Holding("pids") ?? Hierarchies.FirstOrDefault();
        var pids = new List<int>();
        if (h is null)
            return pids;
        foreach (string line in (_fs.ReadText(Path.Combine(h.Directory, "cgroup.procs")) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                pids.Add(pid);
        }
        return pids;
    }

    /// <summary>Sends a signal to every process the cgroup lists (each through a pidfd opened at once).</summary>
    public void Signal(int signal)
    {
        foreach (int pid in Pids())
        {
            using var pidfd = PidfdOpen(pid);
            if (pidfd is not null)
                PidfdSendSignal(pidfd, signal);
        }
    }

    /// <summary>Removes the sandbox's directory from every hierarchy (killing what is left); false when one stays.</summary>
    public bool Remove(TimeSpan timeout)
    {
        // A frozen process cannot die: thaw first.
        if (IsFrozen())
            Freeze(false);
        bool all = true;
        foreach (var h in Hierarchies)
            all &= Cgroup.KillAndRemove(_fs, h.Directory, timeout);
        return all;
    }
}
