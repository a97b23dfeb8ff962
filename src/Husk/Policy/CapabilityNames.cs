using System.Globalization;

namespace Husk.Policy;

/// <summary>Linux capability names and numbers (linux/capability.h), as bubblewrap's --cap-add reads them.</summary>
internal static class CapabilityNames
{
    private static readonly string[] Names =
    [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
        "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
        "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
        "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
        "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
        "checkpoint_restore",
    ];

    /// <summary>The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap).</summary>
    public static int LastCapability { get; } = ReadLastCap();

    /// <summary>Every capability the kernel knows, as a mask.</summary>
    public static ulong All => LastCapability >= 63 ? ulong.MaxValue : (1UL << (LastCapability + 1)) - 1;

    /// <summary>"CAP_SYS_ADMIN", "cap_sys_admin" or "sys_admin" (or a number) to its number.</summary>
    public static bool TryParse(string name, out int cap)
    {
        string n = name.StartsWith("cap_", StringComparison.OrdinalIgnoreCase) ? name[4..] : name;
        if (TryFind(n, out cap))
            return true;
        return int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out cap) && cap <= LastCapability;
    }

    /// <summary>A bare name ("sys_admin", any case, no CAP_ prefix) to its number.</summary>
    public static bool TryFind(ReadOnlySpan<char> bareName, out int cap)
    {
        for (cap = 0; cap < Names.Length; cap++)
        {
            if (bareName.Equals(Names[cap], StringComparison.OrdinalIgnoreCase))
                return true;
        }
        cap = -1;
        return false;
    }

    /// <summary>The canonical name, "CAP_SYS_ADMIN".</summary>
    public static string Name(int cap) => cap >= 0 && cap < Names.Length ? "CAP_" + Names[cap].ToUpperInvariant() : cap.ToString(CultureInfo.InvariantCulture);

    private static int ReadLastCap()
    {
        try
        {
            return int.Parse(File.ReadAllText("/proc/sys/kernel/cap_last_cap").Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return Names.Length - 1;
        }
    }
}
