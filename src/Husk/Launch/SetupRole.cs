namespace Husk;

/// <summary>
/// What a setup operation is for: the planner stamps each operation with its role, so a front door
/// words a failure (<see cref="SandboxSetupException.Role"/>) from typed data, as bubblewrap says
/// "Can't mount devpts" or "Setting userns2 failed", without reading the engine's own text.
/// </summary>
public enum SetupRole
{
    /// <summary>Nothing more specific than its operation.</summary>
    None,
    /// <summary>Closing a descriptor only the supervisor uses.</summary>
    CloseSupervisorFd,
    /// <summary>Waiting for the supervisor to map ids and release the child.</summary>
    WaitSupervisor,
    /// <summary>Writing a new user namespace's setgroups policy (the supervisor).</summary>
    Setgroups,
    /// <summary>Writing a new user namespace's gid map (the supervisor).</summary>
    GidMap,
    /// <summary>Writing a new user namespace's uid map (the supervisor).</summary>
    UidMap,
    /// <summary>Joining a running process's namespaces (<c>husk enter</c>).</summary>
    JoinNamespaces,
    /// <summary>Joining a user namespace given by descriptor.</summary>
    JoinUserNamespace,
    /// <summary>Joining a pid namespace given by descriptor.</summary>
    JoinPidNamespace,
    /// <summary>Switching into a second, descendant user namespace after setup (bwrap's <c>--userns2</c>).</summary>
    SecondUserNamespace,
    /// <summary>Creating namespaces after joining or nesting a user namespace.</summary>
    CreateNamespaces,
    /// <summary>Creating a pid namespace after joining one.</summary>
    CreatePidNamespace,
    /// <summary>Forking into a pid namespace that applies to children only.</summary>
    EnterPidNamespace,
    /// <summary>Forking the payload under husk-init.</summary>
    ForkInit,
    /// <summary>Switching to the sandbox's ids.</summary>
    SetIds,
    /// <summary>Bringing up the loopback interface.</summary>
    Loopback,
    /// <summary>Setting the hostname.</summary>
    Hostname,
    /// <summary>Limiting <c>user.max_user_namespaces</c> (nested user namespaces off).</summary>
    MaxUserNamespaces,
    /// <summary>Creating the nested user namespace the payload does not own.</summary>
    NestedUserNamespace,
    /// <summary>Denying setgroups in the nested user namespace.</summary>
    NestedSetgroups,
    /// <summary>Writing the nested user namespace's gid map.</summary>
    NestedGidMap,
    /// <summary>Writing the nested user namespace's uid map.</summary>
    NestedUidMap,
    /// <summary>Checking that user namespaces are off as asked.</summary>
    ExpectNoUserNamespaces,
    /// <summary>Building the root's tmpfs and making the caller's mounts private.</summary>
    RootBegin,
    /// <summary>pivot_root into the built root and dropping the old one.</summary>
    RootFinish,
    /// <summary>A bind mount of a filesystem operation.</summary>
    Bind,
    /// <summary>A filesystem mount (tmpfs, overlay, mqueue, ...) of a filesystem operation.</summary>
    Mount,
    /// <summary>Creating a directory.</summary>
    Directory,
    /// <summary>Creating a symlink.</summary>
    Symlink,
    /// <summary>Creating a file with data.</summary>
    File,
    /// <summary>Changing a mode.</summary>
    Chmod,
    /// <summary>Remounting read-only.</summary>
    RemountReadOnly,
    /// <summary>Attaching a layer view the supervisor idmapped.</summary>
    AttachIdmapped,
    /// <summary>Mounting a procfs.</summary>
    ProcMount,
    /// <summary>Binding the caller's /proc (the pid namespace is shared).</summary>
    ProcBind,
    /// <summary>Covering a writable corner of /proc read-only.</summary>
    ProcCover,
    /// <summary>The tmpfs of a minimal /dev.</summary>
    DevTmpfs,
    /// <summary>A device node of a minimal /dev.</summary>
    DevNode,
    /// <summary>A symlink of a minimal /dev (stdio, fd, core).</summary>
    DevLink,
    /// <summary>A directory of a minimal /dev (shm, pts).</summary>
    DevDirectory,
    /// <summary>The devpts instance of a minimal /dev.</summary>
    DevPts,
    /// <summary>The /dev/ptmx symlink.</summary>
    PtmxLink,
    /// <summary>The caller's terminal bound as /dev/console.</summary>
    Console,
    /// <summary>The upper directory of a temporary overlay (in the hidden tmpfs).</summary>
    TmpOverlayUpper,
    /// <summary>The work directory of a temporary overlay (in the hidden tmpfs).</summary>
    TmpOverlayWork,
    /// <summary>A directory in the hidden storage (a capped layer's skeleton, scratch space).</summary>
    StorageDirectory,
    /// <summary>Taking a lock on a file.</summary>
    LockFile,
    /// <summary>Waiting for a descriptor to become readable.</summary>
    WaitFd,
    /// <summary>Changing to the working directory.</summary>
    Chdir,
    /// <summary>Opening the sandbox's pseudo-terminal or making it the controlling one.</summary>
    Terminal,
    /// <summary>Starting a new session.</summary>
    NewSession,
    /// <summary>Setting the umask.</summary>
    Umask,
    /// <summary>Laying out the payload's descriptors.</summary>
    Descriptors,
    /// <summary>Setting capabilities.</summary>
    Capabilities,
    /// <summary>Setting no_new_privs.</summary>
    NoNewPrivileges,
    /// <summary>Building and applying the Landlock ruleset.</summary>
    Landlock,
    /// <summary>Setting a resource limit.</summary>
    ResourceLimit,
    /// <summary>Installing a seccomp filter.</summary>
    Seccomp,
    /// <summary>Ignoring signals.</summary>
    SignalMask,
    /// <summary>Executing the payload.</summary>
    Exec,
    /// <summary>Configuring the sandbox's network namespace with a host tool (ip, nft) run there.</summary>
    NetworkSetup,
    /// <summary>Opening one of the supervisor's sockets in the sandbox's network namespace (DNS, TCP capture).</summary>
    NetworkSocket,
    /// <summary>Starting the network helper of the supervisor (pasta, slirp4netns, the bridge's veth).</summary>
    NetworkHelper,
    /// <summary>Joining a namespace other than user and pid given by descriptor (OCI's namespaces by path).</summary>
    JoinNamespace,
    /// <summary>Waiting at a sync point for the supervisor (id maps written, hooks run).</summary>
    Sync,
    /// <summary>Creating a device node.</summary>
    DeviceNode,
    /// <summary>Masking a path (OCI's maskedPaths).</summary>
    MaskPath,
    /// <summary>Setting the OOM score adjustment.</summary>
    OomScore,
    /// <summary>Setting the execution domain (personality).</summary>
    Personality,
    /// <summary>Setting a kernel parameter (sysctl) in the sandbox's namespaces.</summary>
    Sysctl,
    /// <summary>Entering the root by chroot(2) (<see cref="ChrootFileSystem"/>).</summary>
    Chroot,
}
