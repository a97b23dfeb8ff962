using System.Globalization;

namespace Husk.FileSystem;

/// <summary>One line of /proc/self/mountinfo.</summary>
internal sealed record HostMount(string MountPoint, string Root, string FsType, string Source, string Device, string Options)
{
    /// <summary>Mount options include ro.</summary>
    public bool ReadOnly => Options.Split(',').Contains("ro");
}

/// <summary>The caller's mount table, and which filesystems hold files a sandbox may change.</summary>
internal static class HostMounts
{
    /// <summary>Kernel and virtual filesystems: nothing on them is a file to overlay and review.</summary>
    private static readonly HashSet<string> Virtual = new(StringComparer.Ordinal)
    {
        "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs", "securityfs",
        "pstore", "bpf", "autofs", "fusectl", "configfs", "binfmt_misc", "hugetlbfs", "nsfs", "efivarfs", "rpc_pipefs",
        "selinuxfs", "ramfs", "overlay", "fuse.portal", "fuse.gvfsd-fuse",
    };

    /// <summary>Reads /proc/self/mountinfo.</summary>
    public static IReadOnlyList<HostMount> Read() => Parse(File.ReadAllLines("/proc/self/mountinfo"));

    /// <summary>Parses mountinfo lines (octal escapes in paths undone).</summary>
    public static IReadOnlyList<HostMount> Parse(IEnumerable<string> lines)
    {
        var mounts = new List<HostMount>();
        foreach (string line in lines)
        {
            string[] f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (f.Length < 6 || dash < 6 || dash + 2 >= f.Length)
                continue;
            mounts.Add(new HostMount(Unescape(f[4]), Unescape(f[3]), f[dash + 1], Unescape(f[dash + 2]), f[2], f[5]));
        }
        return mounts;
    }

    /// <summary>
    /// Mount points whose files a sandbox may change and Husk overlays, outermost first: real
    /// filesystems (and tmpfs outside /dev, /run, /tmp and /proc), the last mount at each point, none
    /// below a virtual one.
    /// </summary>
    /// <param name="mounts">The mount table.</param>
    /// <param name="includeVolatile">Also overlay what is below /run, /tmp and /var/tmp (try shows the host's there).</param>
    public static IReadOnlyList<string> Overlayable(IReadOnlyList<HostMount> mounts, bool includeVolatile = false)
    {
        // The last mount on a path is the one visible there.
        var visible = new Dictionary<string, HostMount>(StringComparer.Ordinal);
        foreach (var m in mounts)
            visible[m.MountPoint] = m;
        var result = new List<string>();
        foreach (var m in visible.Values.OrderBy(m => m.MountPoint, StringComparer.Ordinal))
        {
            if (Virtual.Contains(m.FsType))
                continue;
            if (IsUnder(m.MountPoint, "/proc") || IsUnder(m.MountPoint, "/sys") || IsUnder(m.MountPoint, "/dev"))
                continue;
            if (!includeVolatile && (IsUnder(m.MountPoint, "/run") || IsUnder(m.MountPoint, "/tmp") || IsUnder(m.MountPoint, "/var/tmp")))
                continue;
            // Below a virtual mount (e.g. /proc/sys/fs/binfmt_misc) nothing is overlaid.
            if (visible.Values.Any(v => Virtual.Contains(v.FsType) && v.MountPoint != m.MountPoint && IsUnder(m.MountPoint, v.MountPoint)))
                continue;
            result.Add(m.MountPoint);
        }
        return result;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="dir"/> or inside it.</summary>
    public static bool IsUnder(string path, string dir) =>
        dir == "/" || path == dir || path.StartsWith(dir + "/", StringComparison.Ordinal);

    private static string Unescape(string s)
    {
        if (!s.Contains('\\'))
            return s;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 3 < s.Length && int.TryParse(s.AsSpan(i + 1, 3), NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                sb.Append((char)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                sb.Append(s[i]);
            }
        }
        return sb.ToString();
    }
}
