using System.Globalization;
using System.Runtime.CompilerServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Resources;

/// <summary>What a cgroup says about its processes; null where its hierarchy does not tell.</summary>
internal readonly record struct CgroupStats(
    TimeSpan? User, TimeSpan? System, TimeSpan? Total, long? MemoryPeak, long? MemoryCurrent, long OomKills, int? PidsPeak);

/// <summary>
/// A cgroup of one sandbox: created before the clone, removed (after killing what is left in it)
/// when the sandbox ends. Named <c>husk-PID-START-SEQ</c> after the supervisor, so the next start of
/// Husk can tell a crashed run's cgroups (whose supervisor is gone) and clean them.
/// </summary>
internal abstract class Cgroup : IDisposable
{
    private static long _sequence;
    /// <summary>The parents already cleaned of stale cgroups, per filesystem.</summary>
    private static readonly ConditionalWeakTable<ICgroupFs, HashSet<string>> Cleaned = new();

    protected Cgroup(ICgroupFs fs)
    {
        Fs = fs;
    }

    /// <summary>Where the cgroup's files are read and written.</summary>
    protected ICgroupFs Fs { get; }

    /// <summary>"cgroup2" or "cgroup1", as reports name the backend.</summary>
    public abstract string Backend { get; }

    /// <summary>The sandbox's cgroup directory (v1: the one in the memory hierarchy, else the first).</summary>
    public abstract string Path { get; }

    public bool HasMemory { get; protected init; }
    public bool HasPids { get; protected init; }
    public bool HasCpu { get; protected init; }

    /// <summary>A directory descriptor for CLONE_INTO_CGROUP (v2 only).</summary>
    public virtual SafeFd? CloneFd => null;

    /// <summary>Moves a process (the cloned child, before it runs anything) into the cgroup.</summary>
    public virtual void Attach(int pid)
    {
    }

    public abstract CgroupStats Read();

    /// <summary>The CPU time of the cgroup alone (<see cref="Read"/>'s Total), for the baseline taken at every start.</summary>
    public virtual TimeSpan? ReadTotalCpu() => Read().Total;

    /// <summary>Kills every process in the cgroup.</summary>
    public abstract void Kill();

    /// <summary>Kills what is left, waits until the cgroup is empty and removes it.</summary>
    public abstract void Remove();

    public void Dispose() => Remove();

    /// <summary>A new cgroup name for this supervisor.</summary>
    internal static string NewName() =>
        string.Create(CultureInfo.InvariantCulture, $"husk-{Environment.ProcessId}-{StartTicks(Environment.ProcessId)}-{Interlocked.Increment(ref _sequence)}");

    /// <summary>The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null when it is gone.</summary>
    internal static long? StartTicks(int pid)
    {
        string? stat = ProcFile.ReadText($"/proc/{pid}/stat");
        if (stat is null)
            return null;
        int close = stat.LastIndexOf(')');
        string[] fields = stat[(close + 2)..].Split(' ');
        return fields.Length > 19 && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out long t) ? t : null;
    }

    /// <summary>A cgroup Husk made for a supervisor that is no longer running.</summary>
    internal static bool IsStale(string name)
    {
        string[] parts = name.Split('-');
        if (parts.Length < 4 || parts[0] != "husk" || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int pid)
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out long start))
            return false;
        return StartTicks(pid) != start;
    }

    /// <summary>Removes the cgroups crashed runs left in <paramref name="parent"/> (once per parent and process).</summary>
    internal static void CleanStale(ICgroupFs fs, string parent)
    {
        var cleaned = Cleaned.GetOrCreateValue(fs);
        lock (cleaned)
        {
            if (!cleaned.Add(parent))
                return;
        }
        IReadOnlyList<string> dirs;
        try
        {
            dirs = fs.Directories(parent, "husk-*");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        foreach (string dir in dirs)
        {
            if (IsStale(System.IO.Path.GetFileName(dir)))
                KillAndRemove(fs, dir, TimeSpan.FromSeconds(2));
        }
    }

    /// <summary>
    /// SIGKILL to every process a cgroup.procs file lists, until it lists none. Each is opened as a
    /// pidfd and checked to still be in the cgroup, so a reused pid is never hit.
    /// </summary>
    internal static bool KillListed(ICgroupFs fs, string dir, TimeSpan timeout)
    {
        string procs = System.IO.Path.Combine(dir, "cgroup.procs");
        string relative = dir;
        var deadline = DateTime.UtcNow + timeout;
        for (int attempt = 0; ; attempt++)
        {
            string? text = fs.ReadText(procs);
            if (text is null || text.Trim().Length == 0)
                return true;
            foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!int.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
                    continue;
                using var pidfd = PidfdOpen(pid);
                if (pidfd is null)
                    continue;
                string? where = ProcFile.ReadText($"/proc/{pid}/cgroup");
                if (where is not null && where.Split('\n').Any(l => l.Length > 0 && relative.EndsWith(l[(l.LastIndexOf(':') + 1)..], StringComparison.Ordinal)))
                    PidfdSendSignal(pidfd, Signals.SIGKILL);
            }
            if (DateTime.UtcNow > deadline)
                return false;
            Interop.Interop.Backoff(attempt);
        }
    }

    /// <summary>
    /// Removes a cgroup that is empty at once, else as <see cref="KillAndRemove"/>: a sandbox that has
    /// ended left it empty, and looking at its processes first cost every run a stat and a read.
    /// </summary>
    internal static bool RemoveEnded(ICgroupFs fs, string dir, TimeSpan timeout)
    {
        try
        {
            fs.RemoveDirectory(dir);
            return true;
        }
        catch (DirectoryNotFoundException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return KillAndRemove(fs, dir, timeout);
        }
    }

    /// <summary>Kills the processes of a cgroup, waits for it to empty, and removes it; false when it could not.</summary>
    internal static bool KillAndRemove(ICgroupFs fs, string dir, TimeSpan timeout)
    {
        if (!fs.DirectoryExists(dir))
            return true;
        KillListed(fs, dir, timeout);
        var deadline = DateTime.UtcNow + timeout;
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                fs.RemoveDirectory(dir);
                return true;
            }
            catch (DirectoryNotFoundException)
            {
                return true;
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                // EBUSY while the last processes finish exiting.
                Interop.Interop.Backoff(attempt);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
    }

    /// <summary>The cgroup mounts last parsed, per filesystem (a judge's loop asked for them twice a run).</summary>
    private static readonly ConditionalWeakTable<ICgroupFs, StrongBox<(string MountPoint, string FsType, string[] Options)[]?>> MountCache = new();

    /// <summary>
    /// The mount points of cgroup filesystems: (mount point, fs type, super options). Parsed once
    /// and again only when <see cref="ICgroupFs.MountsChanged"/> says the mount table changed since.
    /// </summary>
    internal static IReadOnlyList<(string MountPoint, string FsType, string[] Options)> Mounts(ICgroupFs fs)
    {
        var cached = MountCache.GetOrCreateValue(fs);
        lock (cached)
        {
            // Asked first, so that a change while the file is read is told next time (a spare re-read at worst).
            bool changed = fs.MountsChanged();
            if (changed || cached.Value is null)
                cached.Value = [.. ParseMounts(fs.ReadText("/proc/self/mountinfo") ?? "")];
            return cached.Value;
        }
    }

    private static IEnumerable<(string MountPoint, string FsType, string[] Options)> ParseMounts(string text)
    {
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int dash = line.IndexOf(" - ", StringComparison.Ordinal);
            if (dash < 0)
                continue;
            string[] left = line[..dash].Split(' ');
            string[] right = line[(dash + 3)..].Split(' ');
            if (left.Length < 5 || right.Length < 3 || !right[0].StartsWith("cgroup", StringComparison.Ordinal))
                continue;
            yield return (Unescape(left[4]), right[0], right[2].Split(','));
        }
    }

    private static string Unescape(string s) => s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}
