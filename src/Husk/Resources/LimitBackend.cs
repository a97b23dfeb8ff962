namespace Husk;

/// <summary>How a sandbox's limits are enforced and its usage measured.</summary>
public enum LimitBackend
{
    /// <summary>The best one available: cgroup v2 with the needed controllers, cgroup v1 as root, else rlimits.</summary>
    Auto,

    /// <summary>
    /// A cgroup v2 of the sandbox's own, entered with CLONE_INTO_CGROUP: under the cgroup parent, else
    /// the caller's own delegated subtree, else (as root) a <c>husk</c> subtree. Controllers the
    /// hierarchy lacks are made up for by the rlimit backend's means.
    /// </summary>
    CgroupV2,

    /// <summary>cgroup v1 hierarchies (memory, cpu, cpuacct, pids) as root, under a <c>husk</c> subtree.</summary>
    CgroupV1,

    /// <summary>
    /// No cgroup: rlimits (CPU, FSIZE, NOFILE, STACK, NPROC counted in the sandbox's user namespace,
    /// optionally AS), and the supervisor sampling the tree's CPU time and resident memory in /proc.
    /// </summary>
    Rlimits,
}
