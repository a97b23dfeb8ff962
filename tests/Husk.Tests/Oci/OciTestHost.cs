using Husk.Cli.Personalities.Oci;

namespace Husk.Tests.Oci;

/// <summary>Made-up machines for the OCI mapper: hybrid cgroups (v1 hierarchies and an empty unified one), kernel 6.x.</summary>
internal static class OciTestHost
{
    private static readonly string[] Hierarchies = ["cpu,cpuacct", "memory", "pids", "devices", "freezer", "unified"];

    private static IReadOnlyList<(string, string)> Directories(string path) =>
        [.. Hierarchies.Select(h => ("/sys/fs/cgroup/" + h, "/sys/fs/cgroup/" + h + (path.StartsWith('/') ? path : "/user.slice/" + path)))];

    /// <summary>Root of the initial user namespace: podman and containerd as root.</summary>
    public static OciHost Root { get; } = new()
    {
        IsRoot = true,
        InitialUserNamespace = true,
        LastCapability = 40,
        HomeOf = (_, uid) => uid == 0 ? "/root" : null,
        CgroupDirectories = Directories,
        // podman's rootless network namespaces are made in its user namespace, as the runtime is.
        OwnsNamespace = path => path.StartsWith("/run/user/", StringComparison.Ordinal),
    };

    /// <summary>uid 0 of a user namespace someone else made: podman rootless.</summary>
    public static OciHost RootInUserNamespace { get; } = Root with { InitialUserNamespace = false };

    /// <summary>An unprivileged user running husk-runtime itself (runc spec --rootless).</summary>
    public static OciHost User { get; } = Root with { IsRoot = false, InitialUserNamespace = true };
}
