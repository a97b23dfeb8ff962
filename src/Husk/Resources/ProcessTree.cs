using System.Diagnostics;
using System.Globalization;

namespace Husk.Resources;

/// <summary>One look at a sandbox's process tree through /proc.</summary>
internal readonly record struct TreeSample(int Processes, int Tasks, TimeSpan Cpu, long Memory, long LargestPeak);

/// <summary>
/// Measures a process tree from /proc where no cgroup does: CPU time as the sum of every member's
/// utime and stime plus what they reaped (cutime, cstime: the init reaps orphans; of the init itself, only that), and memory as
/// resident anonymous and shared memory: the counters of /proc/PID/status for a single process, the
/// proportional sets of smaps_rollup when several share pages (a forked tree shares its parent's
/// pages; summing their resident sets would count them again for every child).
/// Membership follows parent links from the root (this kernel may lack /proc/PID/task/TID/children).
/// A process found outside the tree stays outside (it cannot be reparented into a pid namespace), so
/// only members and new pids are read each time; a full look every second covers reused pids.
/// </summary>
internal sealed class ProcessTree(int rootPid, bool rootIsInit)
{
    private const double TicksPerSecond = 100; // USER_HZ, fixed by the kernel's ABI
    private static readonly TimeSpan FullScanInterval = TimeSpan.FromSeconds(1);

    private readonly HashSet<int> _outside = [];
    private long _lastFullScan;

    public TreeSample Sample()
    {
        if (Stopwatch.GetElapsedTime(_lastFullScan) > FullScanInterval)
        {
            _outside.Clear();
            _lastFullScan = Stopwatch.GetTimestamp();
        }
        var stats = new Dictionary<int, (int Parent, long Cpu, int Threads)>();
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            string name = Path.GetFileName(dir);
            if (name.Length == 0 || !char.IsAsciiDigit(name[0]) || !int.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || _outside.Contains(pid))
                continue;
            if (ProcFile.ReadText($"/proc/{pid}/stat") is { } stat && ParseStat(stat, out int ppid, out long cpu, out long reaped, out int threads))
                // husk-init's own time is the stage's setup before its exec: only what it reaped counts.
                stats[pid] = (ppid, pid == rootPid && rootIsInit ? reaped : cpu + reaped, threads);
        }
        var children = new Dictionary<int, List<int>>();
        foreach (var (pid, s) in stats)
        {
            if (!children.TryGetValue(s.Parent, out var list))
                children[s.Parent] = list = [];
            list.Add(pid);
        }
        var members = new HashSet<int>();
        if (stats.ContainsKey(rootPid))
        {
            var queue = new Queue<int>();
            queue.Enqueue(rootPid);
            while (queue.Count > 0)
            {
                int p = queue.Dequeue();
                if (!members.Add(p))
                    continue;
                if (children.TryGetValue(p, out var kids))
                    kids.ForEach(queue.Enqueue);
            }
        }
        long ticks = 0;
        int tasks = 0;
        foreach (var (pid, s) in stats)
        {
            if (!members.Contains(pid))
            {
                _outside.Add(pid);
                continue;
            }
            ticks += s.Cpu;
            tasks += s.Threads;
        }
        var measured = rootIsInit ? members.Where(p => p != rootPid).ToList() : [.. members];
        long memory = 0, largest = 0;
        if (measured.Count == 1)
        {
            var status = ProcFile.ReadKeyed($"/proc/{measured[0]}/status");
            memory = (status.GetValueOrDefault("RssAnon") + status.GetValueOrDefault("RssShmem")) * 1024;
            largest = status.GetValueOrDefault("VmHWM") * 1024;
        }
        else
        {
            foreach (int p in measured)
            {
                var rollup = ProcFile.ReadKeyed($"/proc/{p}/smaps_rollup");
                memory += (rollup.GetValueOrDefault("Pss_Anon") + rollup.GetValueOrDefault("Pss_Shmem")) * 1024;
            }
        }
        return new TreeSample(measured.Count, tasks, TimeSpan.FromSeconds(ticks / TicksPerSecond), memory, largest);
    }

    /// <summary>
    /// The largest high-water mark (VmHWM, since its exec) of the payload's first process, read
    /// at once: a program that ends within a few milliseconds is gone before the first full
    /// sample. Through husk-init's children file, where the kernel has it; 0 when there is nothing to read.
    /// </summary>
    public long QuickPeak()
    {
        IEnumerable<string> pids = rootIsInit
            ? (ProcFile.ReadText($"/proc/{rootPid}/task/{rootPid}/children") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries)
            : [rootPid.ToString(CultureInfo.InvariantCulture)];
        long peak = 0;
        foreach (string pid in pids)
            peak = Math.Max(peak, ProcFile.ReadKeyed($"/proc/{pid}/status").GetValueOrDefault("VmHWM") * 1024);
        return peak;
    }

    /// <summary>Fields of /proc/PID/stat after the command (which may hold spaces and parentheses).</summary>
    internal static bool ParseStat(string stat, out int ppid, out long cpuTicks, out long reapedTicks, out int threads)
    {
        ppid = 0;
        cpuTicks = 0;
        reapedTicks = 0;
        threads = 0;
        int close = stat.LastIndexOf(')');
        if (close < 0 || close + 2 >= stat.Length)
            return false;
        var f = stat[(close + 2)..].Split(' ');
        if (f.Length < 18)
            return false;
        // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads
        if (!int.TryParse(f[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out ppid))
            return false;
        long Field(int i) => long.TryParse(f[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : 0;
        cpuTicks = Field(11) + Field(12);
        reapedTicks = Field(13) + Field(14);
        threads = (int)Field(17);
        return true;
    }
}
