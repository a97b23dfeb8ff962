using System.Runtime.InteropServices;
using System.Collections.Immutable;

namespace Husk;

/// <summary>
/// One filesystem operation, applied in order into the sandbox's new root. Destinations are
/// absolute paths as the payload will see them; symlinks in them resolve inside the sandbox.
/// </summary>
public abstract record MountOp(string Destination)
{
    /// <summary>Mode of missing parent directories (0755 unless a front door derives another).</summary>
    public UnixFileMode ParentMode { get; init; } = FileModes.Directory;

    /// <summary>
    /// Apply only when the destination already exists and can be reached; otherwise skip it (hiding
    /// a secret the sandbox cannot see anyway, for instance). Nothing is created for it.
    /// </summary>
    public bool IfPresent { get; init; }
}

/// <summary>Which tree a bind source is looked up in.</summary>
public enum SourceRoot
{
    /// <summary>The caller's filesystem.</summary>
    Host,
    /// <summary>The sandbox's root as built so far (mkosi's <c>+</c> prefix).</summary>
    Sandbox,
    /// <summary>
    /// The hidden tmpfs the sandbox is built on (<see cref="SandboxSpec.RootTmpfs"/>), never
    /// visible to the payload: upper layers there are capped by its size.
    /// </summary>
    Storage,
}

/// <summary>Bind-mounts <paramref name="Source"/> (recursively) on the destination; nosuid unless asked.</summary>
public sealed record BindMount(string Source, string Destination) : MountOp(Destination)
{
    /// <summary>Read-only, recursively.</summary>
    public bool ReadOnly { get; init; }
    /// <summary>Keep device access (otherwise nodev).</summary>
    public bool Devices { get; init; }
    /// <summary>Keep the source's setuid behaviour (otherwise nosuid), for peers that bind without it.</summary>
    public bool AllowSetuid { get; init; }
    /// <summary>Skip silently when the source does not exist.</summary>
    public bool Optional { get; init; }
    /// <summary>Where the source is looked up.</summary>
    public SourceRoot SourceRoot { get; init; } = SourceRoot.Host;
    /// <summary>Bind a symlink source itself instead of its target.</summary>
    public bool NoFollow { get; init; }
    /// <summary>
    /// When the source is not a directory and the destination is a symlink, mount on the symlink
    /// itself instead of on what it points to (mkosi-sandbox's rule).
    /// </summary>
    public bool OntoSymlink { get; init; }
    /// <summary>Bind the mounts below the source too (rbind, the default); false binds the source's own mount only (OCI's "bind").</summary>
    public bool Recursive { get; init; } = true;
    /// <summary>Nothing on it can be executed (noexec).</summary>
    public bool NoExec { get; init; }
    /// <summary>Symlinks are not followed in paths through it (nosymfollow).</summary>
    public bool NoSymlinks { get; init; }

    /// <summary>
    /// A host file the overlay view's scaffolding shows: the host directory holding it (the file
    /// itself when it is a mount point) whose view it is bound from where root's layers are
    /// idmapped, like the overlays' lowers. The sandbox's root is then a subordinate id, to which
    /// a host directory closed to others (podman's storage, 0700) cannot be passed.
    /// </summary>
    internal string? LayerView { get; init; }
}

/// <summary>Bind-mounts what an open file descriptor of the caller names, checked against the fd after mounting.</summary>
public sealed record BindFdMount(SafeHandle Fd, string Destination) : MountOp(Destination)
{
    /// <summary>Read-only, recursively.</summary>
    public bool ReadOnly { get; init; }
}

/// <summary>A fresh tmpfs; nosuid and nodev unless asked.</summary>
public sealed record TmpfsMount(string Destination) : MountOp(Destination)
{
    /// <summary>Size limit in bytes, or null for the kernel's default (half of RAM).</summary>
    public long? Size { get; init; }
    /// <summary>Mode of the tmpfs root.</summary>
    public UnixFileMode Mode { get; init; } = FileModes.Directory;
    /// <summary>Device nodes on it work (otherwise nodev).</summary>
    public bool Devices { get; init; }
    /// <summary>Setuid files on it work (otherwise nosuid).</summary>
    public bool AllowSetuid { get; init; }
}

/// <summary>
/// Any filesystem the kernel can mount without a source device (devpts, mqueue, tmpfs, ...), with
/// its options as given; nosuid and nodev unless asked.
/// </summary>
public sealed record FilesystemMount(string FilesystemType, string Destination) : MountOp(Destination)
{
    /// <summary>Options as "key=value", or "key" for a flag, applied in order.</summary>
    public ImmutableArray<string> Options { get; init; } = [];
    /// <summary>Read-only.</summary>
    public bool ReadOnly { get; init; }
    /// <summary>Device nodes on it work (otherwise nodev).</summary>
    public bool Devices { get; init; }
    /// <summary>Setuid files on it work (otherwise nosuid).</summary>
    public bool AllowSetuid { get; init; }
    /// <summary>Nothing on it can be executed (noexec).</summary>
    public bool NoExec { get; init; }
    /// <summary>How reads update access times.</summary>
    public AccessTime AccessTime { get; init; }
    /// <summary>Directories' access times are never updated (nodiratime).</summary>
    public bool NoDirectoryAccessTime { get; init; }
    /// <summary>Symlinks are not followed in paths through it (nosymfollow).</summary>
    public bool NoSymlinks { get; init; }
}

/// <summary>How reads on a mount update access times.</summary>
public enum AccessTime
{
    /// <summary>Only when older than the last change or a day (relatime, the kernel's default).</summary>
    Relative,
    /// <summary>Never (noatime).</summary>
    None,
    /// <summary>On every access (strictatime).</summary>
    Strict,
}

/// <summary>Kinds of device node.</summary>
public enum DeviceType
{
    /// <summary>A character device.</summary>
    Character,
    /// <summary>A block device.</summary>
    Block,
    /// <summary>A FIFO (major and minor are not used).</summary>
    Fifo,
}

/// <summary>
/// A device node made in the sandbox (mknod). Where mknod is refused (in a user namespace) the
/// host's node at the same path is bound instead, unless <see cref="BindHostFallback"/> is off.
/// An existing node is left as it is.
/// </summary>
public sealed record DeviceNode(string Destination, DeviceType Type, uint Major, uint Minor) : MountOp(Destination)
{
    /// <summary>Permission bits of the node (0666 unless given).</summary>
    public UnixFileMode Mode { get; init; } = FileModes.ReadWriteAll;
    /// <summary>Owner of the node (an id inside), or null for the sandbox's creator.</summary>
    public uint? Uid { get; init; }
    /// <summary>Group of the node, or null.</summary>
    public uint? Gid { get; init; }
    /// <summary>Bind the host's node of the same path when mknod is refused.</summary>
    public bool BindHostFallback { get; init; } = true;
}

/// <summary>
/// Hides what is at a path inside the sandbox (OCI's maskedPaths): a directory gets an empty
/// read-only tmpfs over it, anything else /dev/null; a path that is not there is left alone.
/// Unlike <see cref="SandboxSpec.HiddenPaths"/>, the path is the sandbox's (it may be in its /proc).
/// </summary>
public sealed record MaskedPath(string Destination) : MountOp(Destination);

/// <summary>A procfs for the sandbox's pid namespace (or the host's /proc bound when the pid namespace is shared).</summary>
public sealed record ProcMount(string Destination) : MountOp(Destination);

/// <summary>A minimal /dev: null zero full random urandom tty, stdio links, shm, a private devpts and ptmx.</summary>
public sealed record DevMount(string Destination) : MountOp(Destination);

/// <summary>A POSIX message queue filesystem.</summary>
public sealed record MqueueMount(string Destination) : MountOp(Destination);

/// <summary>Creates a directory; an existing one keeps its mode.</summary>
public sealed record MakeDirectory(string Destination) : MountOp(Destination)
{
    /// <summary>Mode of the directory when it is created.</summary>
    public UnixFileMode Mode { get; init; } = FileModes.Directory;
    /// <summary>
    /// Made in the sandbox's hidden storage (<see cref="SourceRoot.Storage"/>) rather than its root,
    /// with exactly <see cref="Mode"/>: the skeleton of upper layers kept there.
    /// </summary>
    public bool InStorage { get; init; }
}

/// <summary>Creates a symlink; an identical existing one is fine.</summary>
public sealed record MakeSymlink(string Target, string Destination) : MountOp(Destination)
{
    /// <summary>Create missing parent directories (otherwise a missing parent is an error).</summary>
    public bool CreateParents { get; init; } = true;
    /// <summary>
    /// When a different file or symlink (not a directory) is already there, mount a new symlink
    /// over it instead of failing (mkosi-sandbox's --symlink).
    /// </summary>
    public bool Overmount { get; init; }
    /// <summary>Made in the sandbox's hidden storage (<see cref="SourceRoot.Storage"/>) rather than its root.</summary>
    public bool InStorage { get; init; }
}

/// <summary>How a written file is placed.</summary>
public enum FilePlacement
{
    /// <summary>Created in place.</summary>
    Create,
    /// <summary>Written to a hidden file and bind-mounted read-write.</summary>
    Bind,
    /// <summary>Written to a hidden file and bind-mounted read-only.</summary>
    ReadOnlyBind,
}

/// <summary>Creates a file from bytes or from the contents of a descriptor of the caller.</summary>
public sealed record WriteFile(string Destination) : MountOp(Destination)
{
    /// <summary>The contents, when not read from <see cref="Fd"/>.</summary>
    public ImmutableArray<byte> Data { get; init; } = [];
    /// <summary>A descriptor to copy the contents from, or null.</summary>
    public SafeHandle? Fd { get; init; }
    /// <summary>Mode of the file.</summary>
    public UnixFileMode Mode { get; init; } = FileModes.ReadWriteAll;
    /// <summary>How the file is placed.</summary>
    public FilePlacement Placement { get; init; } = FilePlacement.Create;
    /// <summary>Made in the sandbox's hidden storage (<see cref="SourceRoot.Storage"/>) rather than its root.</summary>
    public bool InStorage { get; init; }
}

/// <summary>Changes the mode of an existing path.</summary>
public sealed record ChangeMode(string Destination, UnixFileMode Mode) : MountOp(Destination);

/// <summary>Remounts a mount point read-only (not recursively).</summary>
public sealed record RemountReadOnly(string Destination) : MountOp(Destination);

/// <summary>Kinds of overlay mount.</summary>
public enum OverlayKind
{
    /// <summary>Writes go to a host upper directory.</summary>
    Persistent,
    /// <summary>Writes go to an invisible tmpfs and vanish with the sandbox.</summary>
    Temporary,
    /// <summary>No upper layer: read-only.</summary>
    ReadOnly,
}

/// <summary>An overlayfs; lower layers are host paths (or in the hidden storage), the last one given on top.</summary>
public sealed record OverlayMount(string Destination, ImmutableArray<string> Lowers) : MountOp(Destination)
{
    /// <summary>Where <see cref="Lowers"/> are looked up: the host, or the sandbox's hidden storage (<see cref="SourceRoot.Storage"/>).</summary>
    public SourceRoot LowerRoot { get; init; } = SourceRoot.Host;
    /// <summary>Persistent, temporary or read-only.</summary>
    public OverlayKind Kind { get; init; } = OverlayKind.Temporary;
    /// <summary>Host upper directory (persistent overlays).</summary>
    public string? Upper { get; init; }
    /// <summary>Host work directory, on the same filesystem as the upper (persistent overlays).</summary>
    public string? Work { get; init; }
    /// <summary>Where the upper and work directories of a temporary overlay live, or null for the hidden tmpfs.</summary>
    public string? Storage { get; init; }
    /// <summary>Where <see cref="Upper"/> and <see cref="Work"/> are looked up: the host, the sandbox's root as built so far, or its hidden storage (where they are created).</summary>
    public SourceRoot UpperRoot { get; init; } = SourceRoot.Host;
    /// <summary>Mode given to <see cref="Upper"/> when it is created in <see cref="SourceRoot.Storage"/> (it becomes the mount's root directory).</summary>
    public UnixFileMode UpperMode { get; init; } = FileModes.Directory;
    /// <summary>
    /// Skip the mount (leaving an empty directory) when a host layer no longer exists, instead of
    /// failing: the overlay planner's directories can vanish between planning and mounting.
    /// </summary>
    public bool Optional { get; init; }
    /// <summary>
    /// Further overlayfs options ("index=off", "metacopy=off", "userxattr"), applied after the
    /// layers; "source=NAME" names the mount's source instead of "overlay".
    /// </summary>
    public ImmutableArray<string> Options { get; init; } = [];
    /// <summary>Keep overlayfs's own metadata in user.* extended attributes (userxattr); null: only in a user namespace, where trusted.* is out of reach.</summary>
    public bool? UserXattr { get; init; }
}
