namespace Husk.Cli.Personalities.Bwrap;

/// <summary>Capability names as libcap's cap_from_name reads them: "cap_kill" in any case, or a number below 64.</summary>
internal static class CapabilityNames
{
    /// <summary>Names by number, as the kernel numbers them (linux/capability.h).</summary>
    internal static readonly string[] Names =
    [
        "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
        "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
        "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
        "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
        "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
        "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
    ];

    /// <summary>
    /// A number is read with strtoul (base prefixes allowed, trailing text ignored); a name is the
    /// longest run of letters and underscores, matched without regard to case.
    /// </summary>
    public static bool TryParse(string text, out int cap)
    {
        cap = -1;
        if (text.Length > 0 && char.IsAsciiDigit(text[0]))
        {
            ulong n = CNumbers.StrToUL(text, 0, out _, out bool outOfRange);
            if (outOfRange || n >= 64)
                return false;
            cap = (int)n;
            return true;
        }
        int len = 0;
        while (len < text.Length && (char.IsAsciiLetter(text[len]) || text[len] == '_'))
            len++;
        var word = text.AsSpan(0, len);
        if (!word.StartsWith("cap_", StringComparison.OrdinalIgnoreCase))
            return false;
        for (int i = 0; i < Names.Length; i++)
        {
            if (word[4..].Equals(Names[i], StringComparison.OrdinalIgnoreCase))
            {
                cap = i;
                return true;
            }
        }
        return false;
    }
}
