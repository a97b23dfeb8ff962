namespace Husk;

/// <summary>How mount and unmount events propagate between the sandbox's mounts.</summary>
public enum MountPropagation
{
    /// <summary>Every mount is private: nothing propagates (the default).</summary>
    Private,
    /// <summary>
    /// Every mount is shared in a peer group of its own, so mounts made inside propagate to
    /// later copies of the sandbox's mount namespace; never to the host's (mkosi-sandbox's layout).
    /// </summary>
    Shared,
    /// <summary>Every mount receives the host's mount events but sends none back (OCI's rootfsPropagation "slave").</summary>
    Slave,
    /// <summary>Every mount is private and cannot be bind-mounted elsewhere (OCI's "unbindable").</summary>
    Unbindable,
}
