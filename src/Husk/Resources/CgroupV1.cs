using System.Globalization;

namespace Husk.Resources;

/// <summary>
/// A sandbox's cgroups in the cgroup v1 hierarchies (memory, cpu, cpuacct, pids), as root. The
/// cloned child is moved into them before it runs anything (v1 has no CLONE_INTO_CGROUP), so all
/// of the sandbox is inside. v1's OOM killer takes one process, not the group: the supervisor
/// watches the oom_kill count and ends the tree itself.
/// </summary>
internal sealed class CgroupV1 : Cgroup
{
    internal static readonly string[] Controllers = ["memory", "cpu", "cpuacct", "pids"];

    /// <summary>Controller → the sandbox's directory in the hierarchy that has it.</summary>
    private readonly Dictionary<string, string> _dirs;
    private int _removed;

    private CgroupV1(ICgroupFs fs, Dictionary<string, string> dirs)
        : base(fs)
    {
        _dirs = dirs;
        HasMemory = dirs.ContainsKey("memory");
        HasPids = dirs.ContainsKey("pids");
        HasCpu = dirs.ContainsKey("cpu");
    }

    public override string Backend => "cgroup1";

    public override string Path => _dirs.GetValueOrDefault("memory") ?? _dirs.Values.First();

    /// <summary>Controller → mount point of its v1 hierarchy.</summary>
    public static Dictionary<string, string> FindHierarchies(ICgroupFs fs)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (mount, type, options) in Mounts(fs))
        {
            if (type != "cgroup")
                continue;
            foreach (string c in Controllers)
            {
                if (options.Contains(c))
                    result.TryAdd(c, mount);
            }
        }
        return result;
    }

    /// <summary>
    /// Creates the sandbox's cgroups: under the cgroup parent (a directory in one of the
    /// hierarchies; the same relative path is used in each), else under husk/ in each hierarchy.
    /// </summary>
    public static CgroupV1? Create(ICgroupFs fs, ResourceLimits limits, out string? why)
    {
        why = null;
        var hierarchies = FindHierarchies(fs);
        if (!hierarchies.ContainsKey("memory") || !hierarchies.ContainsKey("cpuacct"))
        {
            why = "no cgroup v1 memory and cpuacct hierarchies are mounted";
            return null;
        }
        string relative = "husk";
        if (limits.CgroupParent is { } parent)
        {
            var owner = hierarchies.Values.FirstOrDefault(m => parent == m || parent.StartsWith(m + "/", StringComparison.Ordinal));
            if (owner is null)
            {
                why = $"the cgroup parent {parent} is in no cgroup v1 hierarchy";
                return null;
            }
            relative = parent[owner.Length..].Trim('/');
        }
        if (limits.Cpus is not null && !hierarchies.ContainsKey("cpu"))
        {
            why = "no cgroup v1 cpu hierarchy is mounted";
            return null;
        }
        string name = NewName();
        var dirs = new Dictionary<string, string>(StringComparer.Ordinal);
        var made = new List<string>();
        try
        {
            foreach (var group in hierarchies.GroupBy(h => h.Value))
            {
                string parentDir = System.IO.Path.Combine(group.Key, relative);
                string dir = System.IO.Path.Combine(parentDir, name);
                // Makes the parent too where it is missing; the new cgroup is this process's, never stale.
                fs.CreateDirectory(dir);
                made.Add(dir);
                CleanStale(fs, parentDir);
                foreach (var (controller, _) in group)
                    dirs[controller] = dir;
            }
            var cg = new CgroupV1(fs, dirs);
            if (limits.MemoryBytes is { } mem)
            {
                string m = dirs["memory"];
                fs.Write(System.IO.Path.Combine(m, "memory.limit_in_bytes"), mem.ToString(CultureInfo.InvariantCulture));
                // memory+swap no higher than memory: no swapping instead of hitting the limit.
                fs.TryWrite(System.IO.Path.Combine(m, "memory.memsw.limit_in_bytes"), mem.ToString(CultureInfo.InvariantCulture));
            }
            if (dirs.TryGetValue("pids", out string? pids))
                fs.Write(System.IO.Path.Combine(pids, "pids.max"), (limits.EffectiveProcesses + 1).ToString(CultureInfo.InvariantCulture));
            if (limits.Cpus is { } cpus)
            {
                string c = dirs["cpu"];
                fs.Write(System.IO.Path.Combine(c, "cpu.cfs_period_us"), "100000");
                fs.Write(System.IO.Path.Combine(c, "cpu.cfs_quota_us"), Math.Max(1000, (long)(cpus * 100_000)).ToString(CultureInfo.InvariantCulture));
            }
            return cg;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
        {
            foreach (string dir in made)
                KillAndRemove(fs, dir, TimeSpan.FromSeconds(1));
            why = ErrorText.Of(e);
            return null;
        }
    }

    public override void Attach(int pid)
    {
        string text = pid.ToString(CultureInfo.InvariantCulture);
        foreach (string dir in _dirs.Values.Distinct())
            Fs.Write(System.IO.Path.Combine(dir, "cgroup.procs"), text);
    }

    /// <summary>A cpuacct file's nanoseconds as a time, or null.</summary>
    private TimeSpan? Ns(string file) => _dirs.TryGetValue("cpuacct", out string? d) && Fs.ReadNumber(System.IO.Path.Combine(d, file)) is long ns
        ? TimeSpan.FromTicks(ns / 100)
        : null;

    public override TimeSpan? ReadTotalCpu() => Ns("cpuacct.usage");

    public override CgroupStats Read()
    {
        long? peak = null, current = null;
        long ooms = 0;
        if (_dirs.TryGetValue("memory", out string? m))
        {
            peak = Fs.ReadNumber(System.IO.Path.Combine(m, "memory.max_usage_in_bytes"));
            current = Fs.ReadNumber(System.IO.Path.Combine(m, "memory.usage_in_bytes"));
            ooms = Fs.ReadKeyed(System.IO.Path.Combine(m, "memory.oom_control")).GetValueOrDefault("oom_kill");
        }
        int? pidsPeak = _dirs.TryGetValue("pids", out string? p) ? (int?)Fs.ReadNumber(System.IO.Path.Combine(p, "pids.peak")) : null;
        return new CgroupStats(Ns("cpuacct.usage_user"), Ns("cpuacct.usage_sys"), Ns("cpuacct.usage"), peak, current, ooms, pidsPeak);
    }

    public override void Kill() => KillListed(Fs, Path, TimeSpan.FromSeconds(2));

    public override void Remove()
    {
        if (Interlocked.Exchange(ref _removed, 1) != 0)
            return;
        // Each hierarchy holds the same processes: one that cannot be removed at once kills them.
        foreach (string dir in _dirs.Values.Distinct())
            RemoveEnded(Fs, dir, TimeSpan.FromSeconds(5));
    }
}
