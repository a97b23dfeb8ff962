using Husk.Interop;
using Husk.Resources;
using static Husk.Interop.Interop;

namespace Husk.Cli.Personalities.Oci;

/// <summary>What every husk-runtime command works with: the global options' state directory and log, and the machine's facts.</summary>
internal sealed class OciContext
{
    public required ContainerStore Store { get; init; }
    public required OciLog Log { get; init; }
    public bool SystemdCgroup { get; init; }
    public required OciHost Host { get; init; }

    /// <summary>The machine as the mapper needs it.</summary>
    public static OciHost ReadHost()
    {
        bool initial = (ProcFile.ReadText("/proc/self/uid_map") ?? "").Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries) is ["0", "0", "4294967295"];
        var hierarchies = CgroupPlacement.FindHierarchies(HostCgroupFs.Instance);
        return new OciHost
        {
            IsRoot = GetEuid() == 0,
            InitialUserNamespace = initial,
            AppArmorEnabled = (ProcFile.ReadText("/sys/module/apparmor/parameters/enabled") ?? "").Trim() == "Y",
            SelinuxEnabled = File.Exists("/sys/fs/selinux/enforce"),
            LastCapability = Policy.CapabilityNames.LastCapability,
            CgroupV2Only = hierarchies.Count > 0 && hierarchies.All(h => h.V2),
            HasKcore = File.Exists("/proc/kcore"),
            HomeOf = HomeInRootfs,
            OwnsNamespace = OwnedByOurUserNamespace,
            CgroupDirectories = path => [.. hierarchies.Select(h => (h.Mount, Path.Combine(h.Mount, CgroupPlacement.Resolve(HostCgroupFs.Instance, h.V2, h.Controllers, path).Trim('/'))))],
        };
    }

    /// <summary>The home directory of <paramref name="uid"/> in the rootfs's /etc/passwd, resolved beneath the rootfs (its symlinks cannot lead out).</summary>
    internal static string? HomeInRootfs(string rootfs, uint uid)
    {
        int dir = Openat2(AT_FDCWD, rootfs, O_PATH | O_DIRECTORY, 0, 0);
        if (dir < 0)
            return null;
        using var root = new SafeFd(dir);
        int fd = Openat2(dir, "etc/passwd", O_RDONLY, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
            return null;
        string text;
        using (var file = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read))
        using (var reader = new StreamReader(file))
            text = reader.ReadToEnd();
        foreach (string line in text.Split('\n'))
        {
            string[] f = line.Split(':');
            if (f.Length >= 6 && uint.TryParse(f[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out uint u) && u == uid)
                return f[5].Length > 0 ? f[5] : null;
        }
        return null;
    }

    internal const ulong RESOLVE_IN_ROOT = 0x10;

    /// <summary>NS_GET_USERNS: the user namespace that owns a namespace, as a descriptor.</summary>
    private const uint NS_GET_USERNS = 0xb701;

    /// <summary>Whether the namespace file at <paramref name="path"/> is owned by this process's user namespace.</summary>
    internal static unsafe bool OwnedByOurUserNamespace(string path)
    {
        if (TryOpen(path, O_RDONLY | O_CLOEXEC, out var ns) != 0)
            return false;
        using (ns)
        {
            int owner = Ioctl(ns!.Fd, NS_GET_USERNS, null);
            if (owner < 0)
                return false;
            using var ownerFd = new SafeFd(owner);
            return TryStat($"/proc/self/fd/{owner}", out var st) == 0 && st.Ino == NamespaceInode("user");
        }
    }
}
