namespace Husk.Tests;

/// <summary>FileSystemSpec.Chroot: a root entered with chroot(2) in the caller's mount namespace, which mounts nothing.</summary>
public class ChrootTests
{
    private static SandboxSpec Spec(params MountOp[] mounts) => new()
    {
        Command = ["/bin/true"],
        Namespaces = NamespaceKinds.Pid,
        FileSystem = FileSystemSpec.Chroot("/srv/root"),
        Mounts = [.. mounts],
    };

    [Fact]
    public void A_chroot_needs_no_mount_namespace_and_takes_no_filesystem_operations()
    {
        Assert.Empty(Spec().Validate());
        Assert.Equal(["a chroot mounts nothing: drop the filesystem operations, or choose a filesystem mode with a mount namespace"],
            (Spec(new TmpfsMount("/tmp")) with { Namespaces = NamespaceKinds.Pid | NamespaceKinds.Mount }).Validate());
        Assert.Contains("the chroot directory must be an absolute path: root", (Spec() with { FileSystem = FileSystemSpec.Chroot("root") }).Validate());
        // Every other mode still needs a mount namespace.
        Assert.Contains("filesystem operations need a mount namespace: drop --share-mount or the operations", (Spec() with { FileSystem = FileSystemSpec.Rootfs("/srv/root") }).Validate());
    }
}
