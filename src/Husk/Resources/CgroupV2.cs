using System.Globalization;
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
    private readonly SafeFd? _fd;
    private readonly bool _fake;
    private bool _removed;

    private CgroupV2(string path, SafeFd? fd, bool fake, bool memory, bool pids, bool cpu)
    {
        Path = path;
        _fd = fd;
        _fake = fake;
        HasMemory = memory;
        HasPids = pids;
        HasCpu = cpu;
    }

    public override string Backend => "cgroup2";

    public override string Path { get; }

    public override SafeFd? CloneFd => _fd;

    /// <summary>The mount point of the cgroup v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid system).</summary>
    public static string? FindMount() =>
        Mounts().Where(m => m.FsType == "cgroup2").Select(m => m.MountPoint).OrderBy(m => m == "/sys/fs/cgroup" ? 0 : 1).FirstOrDefault();

    /// <summary>
    /// Where this caller's sandbox cgroups go: the cgroup parent given; else its own delegated
    /// subtree (a non-root caller's cgroup that it owns), which it first leaves for a leaf of its own
    /// so that controllers can be enabled (no internal processes); else, as root, a husk subtree.
    /// </summary>
    public static string? ChooseParent(string mount, ResourceLimits limits, bool isRoot, out string? why)
    {
        why = null;
        if (limits.CgroupParent is { } given)
        {
            if (!Directory.Exists(given))
            {
                why = $"the cgroup parent {given} does not exist";
                return null;
            }
            return given;
        }
        string? own = OwnCgroup();
        if (!isRoot && own is not null)
        {
            string dir = System.IO.Path.Combine(mount, own.TrimStart('/'));
            if (IsDelegated(dir))
            {
                LeaveForLeaf(dir);
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
            Directory.CreateDirectory(husk);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot create {husk}: {ErrorText.Reason(e)}";
            return null;
        }
        // The root cgroup may have processes and still hand controllers down.
        EnableControllers(mount, ["memory", "pids", "cpu"]);
        return husk;
    }

    /// <summary>The caller's own cgroup v2 path ("0::/..." in /proc/self/cgroup).</summary>
    private static string? OwnCgroup()
    {
        string? text = ProcFile.ReadText("/proc/self/cgroup");
        return text?.Split('\n').FirstOrDefault(l => l.StartsWith("0::", StringComparison.Ordinal))?[3..];
    }

    private static bool IsDelegated(string dir)
    {
        try
        {
            var info = new DirectoryInfo(dir);
            if (!info.Exists)
                return false;
            // systemd hands a user's subtree over by chown: owned by us and writable.
            var st = FileOwner(dir);
            return st == GetUid() && Access(System.IO.Path.Combine(dir, "cgroup.procs"), 2) == 0 && Access(System.IO.Path.Combine(dir, "cgroup.subtree_control"), 2) == 0;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static uint? FileOwner(string path) => TryStat(path, out Statx st) == 0 ? st.Uid : null;

    private static readonly object LeafGate = new();
    private static string? _leaf;

    /// <summary>
    /// A cgroup with processes cannot enable controllers for its children: the supervisor moves
    /// itself into a leaf of its own (once), nsjail's way. Other processes there stay, and then
    /// the controllers stay unavailable.
    /// </summary>
    private static void LeaveForLeaf(string dir)
    {
        lock (LeafGate)
        {
            if (_leaf is not null)
                return;
            string procs = ProcFile.ReadText(System.IO.Path.Combine(dir, "cgroup.procs")) ?? "";
            if (procs.Trim().Length == 0)
                return;
            string leaf = System.IO.Path.Combine(dir, NewName() + "-supervisor");
            try
            {
                Directory.CreateDirectory(leaf);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return;
            }
            if (ProcFile.TryWrite(System.IO.Path.Combine(leaf, "cgroup.procs"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture)) == 0)
                _leaf = leaf;
            else
                TryRemoveDirectory(leaf);
        }
    }

    private static void TryRemoveDirectory(string dir)
    {
        try
        {
            Directory.Delete(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Enables what it can of <paramref name="wanted"/> for the children of <paramref name="dir"/>; returns what is enabled.</summary>
    internal static HashSet<string> EnableControllers(string dir, IEnumerable<string> wanted)
    {
        var available = Words(System.IO.Path.Combine(dir, "cgroup.controllers"));
        var enabled = Words(System.IO.Path.Combine(dir, "cgroup.subtree_control"));
        foreach (string c in wanted)
        {
            if (available.Contains(c) && !enabled.Contains(c))
                ProcFile.TryWrite(System.IO.Path.Combine(dir, "cgroup.subtree_control"), "+" + c);
        }
        return Words(System.IO.Path.Combine(dir, "cgroup.subtree_control"));
    }

    private static HashSet<string> Words(string path) =>
        [.. (ProcFile.ReadText(path) ?? "").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)];

    /// <summary>
    /// Creates the sandbox's cgroup in <paramref name="parent"/> with the limits its controllers can
    /// hold. <paramref name="fake"/>: a test's directory tree stands in for cgroupfs (files are created).
    /// </summary>
    public static CgroupV2 Create(string parent, ResourceLimits limits, bool fake = false)
    {
        CleanStale(parent);
        var wanted = new List<string> { "memory", "pids" };
        if (limits.Cpus is not null)
            wanted.Add("cpu");
        var enabled = fake ? Words(System.IO.Path.Combine(parent, "cgroup.subtree_control")) : EnableControllers(parent, wanted);
        string dir = System.IO.Path.Combine(parent, NewName());
        Directory.CreateDirectory(dir);
        var cg = new CgroupV2(dir, null, fake, enabled.Contains("memory"), enabled.Contains("pids"), enabled.Contains("cpu"));
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
            if (fake)
                return cg;
            var fd = Open(dir, O_RDONLY | O_DIRECTORY);
            return new CgroupV2(dir, fd, false, cg.HasMemory, cg.HasPids, cg.HasCpu);
        }
        catch
        {
            TryRemoveDirectory(dir);
            throw;
        }
    }

    private void Set(string file, string value) => ProcFile.Write(System.IO.Path.Combine(Path, file), value, create: _fake);

    private void TrySet(string file, string value) => ProcFile.TryWrite(System.IO.Path.Combine(Path, file), value, create: _fake);

    public override CgroupStats Read()
    {
        var cpu = ProcFile.ReadKeyed(System.IO.Path.Combine(Path, "cpu.stat"));
        TimeSpan? Usec(string key) => cpu.TryGetValue(key, out long v) ? TimeSpan.FromTicks(v * 10) : null;
        long? peak = null, current = null;
        long ooms = 0;
        if (HasMemory)
        {
            current = ProcFile.ReadNumber(System.IO.Path.Combine(Path, "memory.current"));
            peak = ProcFile.ReadNumber(System.IO.Path.Combine(Path, "memory.peak"));
            var events = ProcFile.ReadKeyed(System.IO.Path.Combine(Path, "memory.events"));
            ooms = events.GetValueOrDefault("oom_kill") + events.GetValueOrDefault("oom_group_kill");
        }
        int? pidsPeak = HasPids ? (int?)ProcFile.ReadNumber(System.IO.Path.Combine(Path, "pids.peak")) : null;
        return new CgroupStats(Usec("user_usec"), Usec("system_usec"), Usec("usage_usec"), peak, current, ooms, pidsPeak);
    }

    /// <summary>True while a process is in the cgroup (cgroup.events "populated 1").</summary>
    public bool Populated => ProcFile.ReadKeyed(System.IO.Path.Combine(Path, "cgroup.events")).GetValueOrDefault("populated") == 1;

    public override void Kill()
    {
        if (ProcFile.TryWrite(System.IO.Path.Combine(Path, "cgroup.kill"), "1") != 0)
            KillListed(Path, TimeSpan.FromSeconds(2));
    }

    public override void Remove()
    {
        lock (this)
        {
            if (_removed)
                return;
            _removed = true;
        }
        _fd?.Dispose();
        if (_fake)
        {
            TryRemoveDirectory(Path);
            return;
        }
        Kill();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        for (int attempt = 0; Populated && DateTime.UtcNow < deadline; attempt++)
            Interop.Interop.Backoff(attempt);
        KillAndRemove(Path, "cgroup.procs", TimeSpan.FromSeconds(5));
    }
}
