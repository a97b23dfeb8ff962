namespace Husk;

/// <summary>Linux namespaces a sandbox can get its own of.</summary>
[Flags]
public enum NamespaceKinds
{
    /// <summary>Share every namespace with the caller.</summary>
    None = 0,
    /// <summary>User namespace: ids and capabilities.</summary>
    User = 1 << 0,
    /// <summary>Mount namespace: the filesystem view.</summary>
    Mount = 1 << 1,
    /// <summary>PID namespace: the payload sees only its own processes.</summary>
    Pid = 1 << 2,
    /// <summary>IPC namespace: System V IPC and POSIX message queues.</summary>
    Ipc = 1 << 3,
    /// <summary>UTS namespace: hostname and domain name.</summary>
    Uts = 1 << 4,
    /// <summary>Network namespace: only a loopback interface, brought up.</summary>
    Net = 1 << 5,
    /// <summary>Cgroup namespace: the payload's cgroup appears as the root.</summary>
    Cgroup = 1 << 6,
    /// <summary>Time namespace: its own monotonic and boot clocks.</summary>
    Time = 1 << 7,
    /// <summary>Every namespace except time, the native CLI's default.</summary>
    AllButTime = User | Mount | Pid | Ipc | Uts | Net | Cgroup,
}
