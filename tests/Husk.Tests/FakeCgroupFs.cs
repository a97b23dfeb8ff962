using System.Globalization;
using Husk.Interop;
using Husk.Resources;

namespace Husk.Tests;

/// <summary>
/// cgroupfs in memory, with the kernel's rules the drivers rely on: a v2 cgroup has the controllers
/// (and their interface files) its parent enables for its children, at any time; "+c" in
/// cgroup.subtree_control enables c only when the cgroup has it and (below the root) holds no
/// process; a pid written to cgroup.procs moves that process, and moving this one changes
/// /proc/self/cgroup. What the drivers create belongs to <see cref="CallerUid"/>; what a test adds
/// belongs to whom it says.
/// </summary>
internal sealed class FakeCgroupFs : ICgroupFs
{
    private static readonly string[] CoreFiles = ["cgroup.controllers", "cgroup.subtree_control", "cgroup.events", "cgroup.kill", "cpu.stat"];
    private static readonly Dictionary<string, string[]> ControllerFiles = new()
    {
        ["memory"] = ["memory.max", "memory.swap.max", "memory.oom.group", "memory.current", "memory.peak", "memory.events"],
        ["pids"] = ["pids.max", "pids.peak"],
        ["cpu"] = ["cpu.max"],
    };
    private static readonly string[] V1Files =
    [
        "cgroup.procs", "memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "pids.max", "cpu.cfs_period_us",
        "cpu.cfs_quota_us", "cpu.shares", "devices.allow", "devices.deny", "freezer.state", "cpuacct.usage", "cpuacct.usage_user", "cpuacct.usage_sys",
    ];

    private readonly HashSet<string> _dirs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _files = new(StringComparer.Ordinal);
    private readonly Dictionary<string, uint> _owners = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<int>> _procs = new(StringComparer.Ordinal); // v2 cgroups
    private readonly HashSet<string> _roots = new(StringComparer.Ordinal);
    private readonly List<string> _mountinfo = [];
    private bool _mountsChanged = true;
    private string? _v2;

    /// <summary>The uid the drivers run as (the HostContext's): what they make is its, and root may write anything.</summary>
    public uint CallerUid { get; }

    public FakeCgroupFs(uint callerUid)
    {
        CallerUid = callerUid;
    }

    /// <summary>False: a table whose changes cannot be told, read every time (<see cref="ICgroupFs.MountsChanged"/>'s default).</summary>
    public bool WatchesMounts { get; init; } = true;

    /// <summary>How often /proc/self/mountinfo was read.</summary>
    public int MountInfoReads { get; private set; }

    /// <summary>True once after each change of the mount lines, as the kernel's poll of mountinfo is.</summary>
    public bool MountsChanged()
    {
        bool changed = _mountsChanged || !WatchesMounts;
        _mountsChanged = false;
        return changed;
    }

    /// <summary>Every successful write, in order.</summary>
    public List<(string Path, string Value)> Writes { get; } = [];

    /// <summary>This process's cgroup v2 path, as /proc/self/cgroup says it.</summary>
    public string Self { get; private set; } = "/";

    /// <summary>A cgroup v2 hierarchy at <paramref name="mount"/> whose root has <paramref name="controllers"/>; this process is in its root.</summary>
    public FakeCgroupFs MountV2(string mount, string controllers)
    {
        _mountinfo.Add($"31 24 0:27 / {mount} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate");
        _mountsChanged = true;
        _roots.Add(mount);
        _v2 = mount;
        MakeV2(mount, controllers, owner: 0);
        Move(Environment.ProcessId, mount);
        return this;
    }

    /// <summary>A cgroup v1 hierarchy at <paramref name="mount"/> for <paramref name="controllers"/> (comma-separated).</summary>
    public FakeCgroupFs MountV1(string mount, string controllers)
    {
        _mountinfo.Add($"35 30 0:31 / {mount} rw,nosuid - cgroup cgroup rw,{controllers}");
        _mountsChanged = true;
        _roots.Add(mount);
        MakeV1(mount, owner: 0);
        return this;
    }

    /// <summary>A v2 cgroup (and any missing parents, root's) owned by <paramref name="owner"/>, holding <paramref name="pids"/>.</summary>
    public FakeCgroupFs AddCgroup(string path, uint owner, params int[] pids)
    {
        string parent = Path.GetDirectoryName(path)!;
        if (!_dirs.Contains(parent))
            AddCgroup(parent, 0);
        MakeV2(path, "", owner);
        foreach (int pid in pids)
            Move(pid, path);
        return this;
    }

    /// <summary>Controllers enabled for a cgroup's children by someone else (an administrator, systemd).</summary>
    public FakeCgroupFs Enable(string path, string controllers)
    {
        _files[Path.Combine(path, "cgroup.subtree_control")] = controllers;
        return this;
    }

    /// <summary>A mountinfo line as the kernel would show it (other filesystems too).</summary>
    public FakeCgroupFs MountInfo(string line)
    {
        _mountinfo.Add(line);
        _mountsChanged = true;
        return this;
    }

    /// <summary>What the kernel shows in a file (statistics, events).</summary>
    public void Set(string path, string content)
    {
        if (!Exists(path))
            throw new InvalidOperationException($"{path} is not a file of this tree");
        _files[path] = content;
    }

    public bool HasProcesses(string path) => _procs.TryGetValue(path, out var pids) && pids.Count > 0;

    private HashSet<string> Words(string path) => [.. (ReadText(path) ?? "").Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries)];

    private void AddFile(string path, string content, uint owner)
    {
        _files[path] = content;
        _owners[path] = owner;
    }

    private void MakeV2(string path, string rootControllers, uint owner)
    {
        _dirs.Add(path);
        _owners[path] = owner;
        _procs[path] = [];
        _owners[Path.Combine(path, "cgroup.procs")] = owner;
        foreach (string f in CoreFiles)
            AddFile(Path.Combine(path, f), "", owner);
        _files[Path.Combine(path, "cgroup.controllers")] = rootControllers; // below the root: the parent's subtree_control
        foreach (string f in ControllerFiles.Values.SelectMany(f => f))
            AddFile(Path.Combine(path, f), "", owner);
    }

    /// <summary>A controller's file exists while the controller is the cgroup's; other files while they are stored.</summary>
    private bool Exists(string path)
    {
        string dir = Path.GetDirectoryName(path)!;
        if (!_files.ContainsKey(path) && !(Path.GetFileName(path) == "cgroup.procs" && _procs.ContainsKey(dir)))
            return false;
        if (!_procs.ContainsKey(dir))
            return true;
        string? controller = ControllerFiles.FirstOrDefault(c => c.Value.Contains(Path.GetFileName(path))).Key;
        return controller is null || Words(Path.Combine(dir, "cgroup.controllers")).Contains(controller);
    }

    private void MakeV1(string path, uint owner)
    {
        _dirs.Add(path);
        _owners[path] = owner;
        foreach (string f in V1Files)
            AddFile(Path.Combine(path, f), "", owner);
    }

    private void Move(int pid, string to)
    {
        foreach (var set in _procs.Values)
            set.Remove(pid);
        _procs[to].Add(pid);
        if (pid == Environment.ProcessId && _v2 is not null)
            Self = to == _v2 ? "/" : to[_v2.Length..];
    }

    public string? ReadText(string path)
    {
        if (path == "/proc/self/mountinfo")
        {
            MountInfoReads++;
            return string.Concat(_mountinfo.Select(l => l + "\n"));
        }
        if (path == "/proc/self/cgroup")
            return $"0::{Self}\n";
        string dir = Path.GetDirectoryName(path)!;
        if (!Exists(path))
            return null;
        if (Path.GetFileName(path) == "cgroup.procs" && _procs.TryGetValue(dir, out var pids))
            return string.Concat(pids.Order().Select(p => p.ToString(CultureInfo.InvariantCulture) + "\n"));
        if (Path.GetFileName(path) == "cgroup.controllers" && _procs.ContainsKey(dir) && !_roots.Contains(dir))
            return ReadText(Path.Combine(Path.GetDirectoryName(dir)!, "cgroup.subtree_control"));
        return _files.GetValueOrDefault(path);
    }

    public int TryWrite(string path, string value)
    {
        string dir = Path.GetDirectoryName(path)!;
        string name = Path.GetFileName(path);
        if (!Exists(path))
            return (int)Errno.ENOENT;
        if (!CanWrite(path))
            return (int)Errno.EACCES;
        bool root = _roots.Contains(dir);
        if (name == "cgroup.subtree_control")
        {
            var enabled = Words(path);
            foreach (string word in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (word[0] == '+' && !Words(Path.Combine(dir, "cgroup.controllers")).Contains(word[1..]))
                    return (int)Errno.ENOENT;
                if (!root && HasProcesses(dir))
                    return (int)Errno.EBUSY; // no internal processes
                if (word[0] == '+')
                    enabled.Add(word[1..]);
                else
                    enabled.Remove(word[1..]);
            }
            _files[path] = string.Join(' ', enabled.Order());
        }
        else if (name == "cgroup.procs" && _procs.ContainsKey(dir))
        {
            if (!root && Words(Path.Combine(dir, "cgroup.subtree_control")).Count > 0)
                return (int)Errno.EBUSY;
            Move(int.Parse(value, CultureInfo.InvariantCulture), dir);
        }
        else
        {
            _files[path] = value;
        }
        Writes.Add((path, value));
        return 0;
    }

    public bool DirectoryExists(string path) => _dirs.Contains(path);

    public void CreateDirectory(string path)
    {
        if (_dirs.Contains(path))
            return;
        string parent = Path.GetDirectoryName(path)!;
        if (!_dirs.Contains(parent))
            CreateDirectory(parent);
        if (!CanWrite(parent))
            throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.");
        if (_procs.ContainsKey(parent))
            MakeV2(path, "", CallerUid);
        else
            MakeV1(path, CallerUid);
    }

    public void RemoveDirectory(string path)
    {
        if (!_dirs.Contains(path))
            throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.");
        if (_dirs.Any(d => Path.GetDirectoryName(d) == path))
            throw new IOException($"Directory not empty : '{path}'");
        if (HasProcesses(path))
            throw new IOException($"Device or resource busy : '{path}'");
        foreach (string key in _owners.Keys.Where(k => k == path || Path.GetDirectoryName(k) == path).ToList())
        {
            _owners.Remove(key);
            _files.Remove(key);
        }
        _dirs.Remove(path);
        _procs.Remove(path);
    }

    public IReadOnlyList<string> Directories(string path, string pattern)
    {
        if (!_dirs.Contains(path))
            throw new DirectoryNotFoundException($"Could not find a part of the path '{path}'.");
        string prefix = pattern.TrimEnd('*');
        return [.. _dirs.Where(d => Path.GetDirectoryName(d) == path && Path.GetFileName(d).StartsWith(prefix, StringComparison.Ordinal)).Order()];
    }

    public uint? Owner(string path) => _owners.TryGetValue(path, out uint o) ? o : null;

    public bool CanWrite(string path) => _owners.TryGetValue(path, out uint o) && (CallerUid == 0 || o == CallerUid);

    public SafeFd? OpenDirectory(string path) => null;
}
