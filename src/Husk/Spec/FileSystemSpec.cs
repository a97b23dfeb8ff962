using System.Collections.Immutable;

namespace Husk;

/// <summary>
/// The tree the sandbox starts from, before its own filesystem operations
/// (<see cref="SandboxSpec.Mounts"/>). The planner derives the mounts of each mode; every mode but
/// <see cref="Inherit"/> and <see cref="Bare"/> adds the standard base: a fresh /proc, a minimal
/// /dev and a private /tmp (and, over the host's tree, a private /var/tmp and /run, /sys read-only
/// and the home directory's secrets hidden unless <see cref="SandboxSpec.ShowSecrets"/>).
/// </summary>
public abstract record FileSystemSpec
{
    private protected FileSystemSpec()
    {
    }

    /// <summary>No root of the sandbox's own: the caller's mounts as they are (a private copy with a mount namespace).</summary>
    public static FileSystemSpec Inherit { get; } = new InheritFileSystem();

    /// <summary>An empty root and nothing else: only the sandbox's own operations (bubblewrap's and mkosi-sandbox's model).</summary>
    public static FileSystemSpec Bare { get; } = new BareFileSystem();

    /// <summary>Each top-level entry of the host read-only, on a root of the sandbox's own (<c>--fs ro</c>).</summary>
    public static FileSystemSpec HostReadOnly { get; } = new HostReadOnlyFileSystem();

    /// <summary>The host's tree as it is, writable where the caller may write (<c>--fs host</c>), or read-only.</summary>
    public static FileSystemSpec Host(bool readOnly = false) => new HostFileSystem(readOnly);

    /// <summary>
    /// An empty root in memory (<c>--fs tmpfs</c>), writable unless <paramref name="readOnly"/>, capped at
    /// <paramref name="size"/> bytes when given; it vanishes with the sandbox (microbox's ephemeral root).
    /// </summary>
    public static FileSystemSpec Empty(bool readOnly = false, long? size = null) => new EmptyFileSystem(readOnly) { Size = size };

    /// <summary>
    /// <paramref name="path"/> as the root (<c>--fs DIR</c>): overlaid so the payload may write while the
    /// directory stays as it was (the writes vanish with the sandbox), or bound read-only.
    /// </summary>
    public static FileSystemSpec Directory(string path, bool readOnly = false) => new DirectoryFileSystem(path, readOnly);

    /// <summary>
    /// <paramref name="path"/> itself as the root, writes landing in it (read-only when asked), and
    /// nothing else: no /proc, /dev or /tmp but the spec's own operations (an OCI bundle's rootfs).
    /// </summary>
    public static FileSystemSpec Rootfs(string path, bool readOnly = false) => new RootfsFileSystem(path, readOnly);

    /// <summary>
    /// <paramref name="path"/> as the root by chroot(2), in the caller's mount namespace: nothing is
    /// mounted (no /proc, /dev or /tmp either), so no mount namespace is needed, and the sandbox takes
    /// no filesystem operations (an OCI config without a mount namespace, as crun runs it).
    /// </summary>
    public static FileSystemSpec Chroot(string path) => new ChrootFileSystem(path);

    /// <summary>
    /// The host's tree through overlays whose writes land in a layer under <paramref name="root"/>
    /// (<c>husk run</c>'s default), to review and commit afterwards (<see cref="Layers.SandboxRoot"/>).
    /// </summary>
    public static HostOverlayFileSystem HostOverlay(string root) => new(root);

    /// <summary>
    /// An OCI image as the root (<c>--image</c>): <paramref name="reference"/> is <c>oci:DIR[:TAG]</c>,
    /// <c>oci-archive:FILE[:TAG]</c> or <c>docker-archive:FILE[:NAME:TAG]</c>. Its layers are unpacked
    /// once into a cache and stacked as overlay lower layers; writes vanish with the sandbox (or, with
    /// <paramref name="readOnly"/>, the root is read-only). Its config supplies what the spec leaves
    /// open: the command (its entrypoint before the spec's command, or its Cmd when the spec has none),
    /// environment (under the spec's entries), working directory and user.
    /// </summary>
    public static ImageFileSystem Image(string reference, bool readOnly = false) => new(reference, readOnly);

    /// <summary>True for the modes that show the host's tree.</summary>
    internal virtual bool ShowsHost => false;
}

/// <summary>See <see cref="FileSystemSpec.Inherit"/>.</summary>
public sealed record InheritFileSystem : FileSystemSpec;

/// <summary>See <see cref="FileSystemSpec.Chroot"/>.</summary>
/// <param name="Path">The new root (absolute).</param>
public sealed record ChrootFileSystem(string Path) : FileSystemSpec;

/// <summary>See <see cref="FileSystemSpec.Bare"/>.</summary>
public sealed record BareFileSystem : FileSystemSpec;

/// <summary>See <see cref="FileSystemSpec.HostReadOnly"/>.</summary>
public sealed record HostReadOnlyFileSystem : FileSystemSpec
{
    internal override bool ShowsHost => true;
}

/// <summary>See <see cref="FileSystemSpec.Host"/>.</summary>
public sealed record HostFileSystem(bool ReadOnly) : FileSystemSpec;

/// <summary>See <see cref="FileSystemSpec.Empty"/>.</summary>
public sealed record EmptyFileSystem(bool ReadOnly) : FileSystemSpec
{
    /// <summary>The root's size in bytes, or null for the kernel's default (half of RAM).</summary>
    public long? Size { get; init; }
}

/// <summary>See <see cref="FileSystemSpec.Directory"/>.</summary>
public sealed record DirectoryFileSystem(string Path, bool ReadOnly) : FileSystemSpec
{
    /// <summary>
    /// Caps what the payload writes over the directory (the overlay's upper layer lives in the
    /// tmpfs the root is built on, of this size: microbox's <c>--storage</c>); null: the kernel's default.
    /// </summary>
    public long? Size { get; init; }
}

/// <summary>See <see cref="FileSystemSpec.Rootfs"/>.</summary>
public sealed record RootfsFileSystem(string Path, bool ReadOnly) : FileSystemSpec;
/// <summary>See <see cref="FileSystemSpec.Image"/>.</summary>
public sealed record ImageFileSystem(string Reference, bool ReadOnly) : FileSystemSpec
{
    /// <summary>Replaces the image's entrypoint (an empty array: none, so the command runs as given); null keeps it.</summary>
    public ImmutableArray<string>? Entrypoint { get; init; }

    /// <summary>The image cache's directory; null for the default ($XDG_CACHE_HOME/husk/images, ~/.cache/husk/images, or /var/cache/husk/images for root).</summary>
    public string? Cache { get; init; }
}

/// <summary>
/// The host's tree through overlays, one per host directory that can be overlaid whole (overlayfs
/// refuses a lower with mounts below it, so the directories above mount points are rebuilt as
/// read-only scaffolding). Writes land in <see cref="Root"/> (<c>upperdir/&lt;path&gt;</c>, try's layout).
/// </summary>
public sealed record HostOverlayFileSystem(string Root) : FileSystemSpec
{
    /// <summary>Caps the layer (<c>--storage</c>): it lives in a tmpfs of this size and moves into <see cref="Root"/> at exit.</summary>
    public long? StorageSize { get; init; }

    /// <summary>Record content hashes of the working directory's files when the root is new (<c>--hash-originals</c>).</summary>
    public bool HashOriginals { get; init; }

    /// <summary>
    /// Overlay what is mounted below /tmp, /var/tmp and /run too, instead of giving the sandbox
    /// private ones (mbox and try show the host's there).
    /// </summary>
    public bool OverlayVolatile { get; init; }

    /// <summary>Layer directories Husk creates take the host directories' modes as they are (try's view), not the caller's.</summary>
    public bool HostModes { get; init; }

    /// <summary>Paths that do not exist in the sandbox (mbox's <c>hide:</c>).</summary>
    public ImmutableArray<string> Hidden { get; init; } = [];

    /// <summary>Paths inside <see cref="Hidden"/> ones that are shown after all (mbox's <c>allow:</c>).</summary>
    public ImmutableArray<string> Allowed { get; init; } = [];

    /// <summary>
    /// Further lower layers, above the host (the last given on top): for a host directory D, each
    /// <c>R/D</c> that is a directory, R taken from this list (try's hide layer and its <c>-L</c>
    /// sandboxes' <c>upperdir</c>). They and <see cref="LayerRoots"/> stay out of the payload's sight.
    /// </summary>
    public ImmutableArray<string> ExtraLayers { get; init; } = [];

    /// <summary>Directories holding <see cref="ExtraLayers"/>: never overlaid whole (a lower inside another fails).</summary>
    public ImmutableArray<string> LayerRoots { get; init; } = [];

    /// <summary>
    /// Which overlay does the work: the kernel's (the default), or fuse-overlayfs, mounted inside the
    /// sandbox before the payload runs, which can show the files of users the sandbox does not map
    /// (mbox <c>-R</c> without subordinate ids). With fuse-overlayfs every file shows as root's
    /// (<c>squash_to_root</c>), and a directory it cannot overlay stays read-only, said on stderr.
    /// </summary>
    public OverlayDriver Driver { get; init; }

    internal override bool ShowsHost => true;
}

/// <summary>What mounts the host overlay's layers.</summary>
public enum OverlayDriver
{
    /// <summary>The kernel's overlayfs (in a user namespace: userxattr).</summary>
    Kernel,
    /// <summary>fuse-overlayfs from PATH, owners squashed to root (needs /dev/fuse).</summary>
    FuseSquashedToRoot,
}
