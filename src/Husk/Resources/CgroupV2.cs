using System.Globalization;
using System.Runtime.CompilerServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Resources;

/// <summary>
/// A sandbox's own cgroup in a cgroup v2 hierarchy. The child is cloned straight into it
/// (CLONE_INTO_CGROUP), so nothing of the sandbox ever runs outside it; cgroup.kill ends the tree.
/// Controllers the parent cannot give (none at all in a hybrid system's empty unified hierarchy)
/// are simply absent: the supervisor then samples what they would have measured.
/// </summary>
internal sealed class CgroupV2 : Cgroup
{
    private SafeFd? _fd;
    private int _removed;

    private CgroupV2(ICgroupFs fs, string path, bool memory, bool pids, bool cpu)
        : base(fs)
    {
        Path = path;
        HasMemory = memory;
        HasPids = pids;
        HasCpu = cpu;
    }

    public override string Backend => "cgroup2";

    public override string Path { get; }

    public override SafeFd? CloneFd => _fd;

    /// <summary>The mount point of the cgroup v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system).</summary>
    public static string? FindMount(ICgroupFs fs) =>
        Mounts(fs).Where(m => m.FsType == "cgroup2").Select(m => m.MountPoint).OrderBy(m => m == "/sys/fs/cgroup" ? 0 : 1).FirstOrDefault();

    /// <summary>
    /// Where this caller's sandbox cgroups go: the cgroup parent given; else its own delegated
    /// subtree (a non-root caller's cgroup that it owns), which it first leaves for a leaf of its own
    /// so that controllers can be enabled (no internal processes); else, as root, a husk subtree.
    /// </summary>
    public static string? ChooseParent(ICgroupFs fs, string mount, ResourceLimits limits, uint uid, out string? why)
    {
        why = null;
        bool isRoot = uid == 0;
        if (limits.CgroupParent is { } given)
        {
            if (!fs.DirectoryExists(given))
            {
                why = $"the cgroup parent {given} does not exist";
                return null;
            }
            return given;
        }
        string? own = OwnCgroup(fs);
        if (!isRoot && own is not null)
        {
            string dir = System.IO.Path.Combine(mount, own.TrimStart('/'));
            // Once the supervisor has left for its leaf, that is its cgroup: sandboxes still go beside it.
            if (dir == LeafOf(fs))
                dir = System.IO.Path.GetDirectoryName(dir)!;
            if (IsDelegated(fs, dir, uid))
            {
                LeaveForLeaf(fs, dir);
                return dir;
            }
            why = $"the cgroup {own} is not delegated to this user";
            return null;
        }
        if (!isRoot)
        {
            why = "this process is in no cgroup v2";
            return null;
        }
        string husk = System.IO.Path.Combine(mount, "husk");
        try
        {
            fs.CreateDirectory(husk);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create {husk}: {ErrorText.Reason(e)}";
            return null;
        }
        // The root cgroup may have processes and still hand controllers down.
        EnableControllers(fs, mount, ["memory", "pids", "cpu"]);
        return husk;
    }

    /// <summary>The caller's own cgroup v2 path ("0::/..." in /proc/self/cgroup).</summary>
    private static string? OwnCgroup(ICgroupFs fs)
    {
        string? text = fs.ReadText("/proc/self/cgroup");
        return text?.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
    }

    private static bool IsDelegated(ICgroupFs fs, string dir, uint uid)
    {
        if (!fs.DirectoryExists(dir))
            return false;
        // systemd hands a user's subtree over by chown: owned by us and writable.
        return fs.Owner(dir) == uid && fs.CanWrite(System.IO.Path.Combine(dir, "cgroup.procs")) && fs.CanWrite(System.IO.Path.Combine(dir, "cgroup.subtree_control"));
    }

    private static readonly object LeafGate = new();
    /// <summary>The leaf the supervisor moved itself into, per filesystem (once).</summary>
    private static readonly ConditionalWeakTable<ICgroupFs, StrongBox<string?>> Leaves = new();

    /// <summary>
    /// A cgroup with processes cannot enable controllers for its children: the supervisor moves
    /// itself into a leaf of its own (once), nsjail's way. Other processes there stay, and then
    /// the controllers stay unavailable.
    /// </summary>
    private static string? LeafOf(ICgroupFs fs)
    {
        lock (LeafGate)
            return Leaves.TryGetValue(fs, out var left) ? left.Value : null;
    }

    private static void LeaveForLeaf(ICgroupFs fs, string dir)
    {
        lock (LeafGate)
        {
            var left = Leaves.GetOrCreateValue(fs);
            if (left.Value is not null)
                return;
            string procs = fs.ReadText(System.IO.Path.Combine(dir, "cgroup.procs")) ?? "";
            if (procs.Trim().Length == 0)
                return;
            string leaf = System.IO.Path.Combine(dir, NewName() + "-supervisor");
            try
            {
                fs.CreateDirectory(leaf);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return;
            }
            if (fs.TryWrite(System.IO.Path.Combine(leaf, "cgroup.procs"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture)) == 0)
                left.Value = leaf;
            else
                TryRemoveDirectory(fs, leaf);
        }
    }

    private static void TryRemoveDirectory(ICgroupFs fs, string dir)
    {
        try
        {
            fs.RemoveDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Enables what it can of <paramref name="wanted"/> for the children of <paramref name="dir"/>; returns what is enabled.</summary>
    internal static HashSet<string> EnableControllers(ICgroupFs fs, string dir, IEnumerable<string> wanted)
    {
        var available = Words(fs, System.IO.Path.Combine(dir, "cgroup.controllers"));
        var enabled = Words(fs, System.IO.Path.Combine(dir, "cgroup.subtree_control"));
        foreach (string c in wanted)
        {
            if (available.Contains(c) && !enabled.Contains(c))
                fs.TryWrite(System.IO.Path.Combine(dir, "cgroup.subtree_control"), "+" + c);
        }
        return Words(fs, System.IO.Path.Combine(dir, "cgroup.subtree_control"));
    }

    /// <summary>The words of a file (a controller list).</summary>
    internal static HashSet<string> Words(ICgroupFs fs, string path) =>
        [.. (fs.ReadText(path) ?? "").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>Creates the sandbox's cgroup in <paramref name="parent"/> with the limits its controllers can hold.</summary>
    public static CgroupV2 Create(ICgroupFs fs, string parent, ResourceLimits limits)
    {
        CleanStale(fs, parent);
        var wanted = new List<string> { "memory", "pids" };
        if (limits.Cpus is not null)
            wanted.Add("cpu");
        var enabled = EnableControllers(fs, parent, wanted);
        string dir = System.IO.Path.Combine(parent, NewName());
        fs.CreateDirectory(dir);
        var cg = new CgroupV2(fs, dir, enabled.Contains("memory"), enabled.Contains("pids"), enabled.Contains("cpu"));
        try
        {
            if (limits.MemoryBytes is { } mem && cg.HasMemory)
            {
                cg.Set("memory.max", mem.ToString(CultureInfo.InvariantCulture));
                // No swapping instead of hitting the limit, and an OOM kill takes the whole tree.
                cg.TrySet("memory.swap.max", "0");
                cg.TrySet("memory.oom.group", "1");
            }
            if (cg.HasPids)
                cg.Set("pids.max", (limits.EffectiveProcesses + 1).ToString(CultureInfo.InvariantCulture));
            if (limits.Cpus is { } cpus && cg.HasCpu)
                cg.Set("cpu.max", string.Create(CultureInfo.InvariantCulture, $"{Math.Max(1000, (long)(cpus * 100_000))} 100000"));
            cg._fd = fs.OpenDirectory(dir);
            return cg;
        }
        catch
        {
            TryRemoveDirectory(fs, dir);
            throw;
        }
    }

    private void Set(string file, string value) => Fs.Write(System.IO.Path.Combine(Path, file), value);

    private void TrySet(string file, string value) => Fs.TryWrite(System.IO.Path.Combine(Path, file), value);

    /// <summary>A cpu.stat value in microseconds as a time, or null.</summary>
    private static TimeSpan? Usec(Dictionary<string, long> cpu, string key) => cpu.TryGetValue(key, out long v) ? TimeSpan.FromTicks(v * 10) : null;

    public override TimeSpan? ReadTotalCpu() => Usec(Fs.ReadKeyed(System.IO.Path.Combine(Path, "cpu.stat")), "usage_usec");

    public override CgroupStats Read()
    {
        var cpu = Fs.ReadKeyed(System.IO.Path.Combine(Path, "cpu.stat"));
        TimeSpan? Usec(string key) => CgroupV2.Usec(cpu, key);
        long? peak = null, current = null;
        long ooms = 0;
        if (HasMemory)
        {
            current = Fs.ReadNumber(System.IO.Path.Combine(Path, "memory.current"));
            peak = Fs.ReadNumber(System.IO.Path.Combine(Path, "memory.peak"));
            var events = Fs.ReadKeyed(System.IO.Path.Combine(Path, "memory.events"));
            ooms = events.GetValueOrDefault("oom_kill") + events.GetValueOrDefault("oom_group_kill");
        }
        int? pidsPeak = HasPids ? (int?)Fs.ReadNumber(System.IO.Path.Combine(Path, "pids.peak")) : null;
        return new CgroupStats(Usec("user_usec"), Usec("system_usec"), Usec("usage_usec"), peak, current, ooms, pidsPeak);
    }

    /// <summary>True while a process is in the cgroup (cgroup.events "populated 1").</summary>
    public bool Populated => Fs.ReadKeyed(System.IO.Path.Combine(Path, "cgroup.events")).GetValueOrDefault("populated") == 1;

    public override void Kill()
    {
        if (Fs.TryWrite(System.IO.Path.Combine(Path, "cgroup.kill"), "1") != 0)
            KillListed(Fs, Path, TimeSpan.FromSeconds(2));
    }

    public override void Remove()
    {
        if (Interlocked.Exchange(ref _removed, 1) != 0)
            return;
        _fd?.Dispose();
        Kill();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        for (int attempt = 0; Populated && DateTime.UtcNow < deadline; attempt++)
            Interop.Interop.Backoff(attempt);
        RemoveEnded(Fs, Path, TimeSpan.FromSeconds(5));
    }
}
