namespace Husk;

/// <summary>A resource limit of the payload (setrlimit): <see cref="Resource"/> is RLIMIT_* (RLIMIT_NOFILE is 7).</summary>
public readonly record struct Rlimit(int Resource, ulong Soft, ulong Hard);

/// <summary>A kernel parameter set in the sandbox's namespaces before the payload starts ("net.ipv4.ip_forward" = "1").</summary>
public readonly record struct Sysctl(string Name, string Value);

/// <summary>A namespace of one kind joined through a descriptor of the caller (an open /proc/PID/ns/* or bind-mounted namespace file).</summary>
public readonly record struct NamespaceFd(NamespaceKinds Kind, System.Runtime.InteropServices.SafeHandle Handle);
