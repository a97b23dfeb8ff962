namespace Husk.Cli.Personalities.Microbox;

/// <summary>microbox's defaults at 88930be: its environment, capability set and system call deny list.</summary>
internal static class MicroboxDefaults
{
    /// <summary>What microbox -v prints after "microbox version".</summary>
    public const string Version = "0.2.0";

    /// <summary>The payload's environment before --env (options/env.go); the host's is not inherited.</summary>
    public static readonly (string Name, string Value)[] Environment =
    [
        ("PATH", "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin"),
        ("HOME", "/root"),
        ("TERM", "xterm"),
        ("LANG", "C.UTF-8"),
    ];

    /// <summary>The capabilities the payload keeps (sandbox/capabilities.go: "matching Docker/runc").</summary>
    public static readonly string[] Capabilities =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE",
    ];

    /// <summary>System calls that answer ENOSYS (sandbox/seccomp.go); everything else is allowed.</summary>
    public static readonly string[] DeniedSyscalls =
    [
        "create_module", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
        "add_key", "request_key", "keyctl", "bpf",
        "ptrace", "process_vm_readv", "process_vm_writev",
        "adjtimex", "clock_adjtime", "settimeofday", "stime",
        "reboot", "quotactl", "nfsservctl", "sysfs", "_sysctl",
        "personality",
        "mount", "umount", "umount2", "pivot_root",
        "setns", "unshare", "nsenter",
        "open_by_handle_at",
        "perf_event_open", "fanotify_init",
        "name_to_handle_at", "lookup_dcookie",
        "userfaultfd", "vm86", "vm86old", "iopl", "ioperm",
        "set_mempolicy", "move_pages",
        "kcmp",
        "acct",
        "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        "io_uring_setup", "io_uring_enter", "io_uring_register",
    ];

    /// <summary>Nameservers written to the sandbox's /etc/resolv.conf when --dns names none (fs/etc.go).</summary>
    public static readonly string[] Nameservers = ["8.8.8.8", "8.8.4.4"];
}
