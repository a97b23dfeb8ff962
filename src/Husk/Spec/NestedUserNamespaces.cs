namespace Husk;

/// <summary>Whether the payload may create user namespaces of its own (and so run sandboxes inside).</summary>
public enum NestedUserNamespaces
{
    /// <summary><see cref="Deny"/> where the sandbox has a user namespace of its own; otherwise the seccomp profile alone refuses them.</summary>
    Auto,
    /// <summary>
    /// Impossible: <c>max_user_namespaces</c> is 0 inside the sandbox's user namespace, in a nested one the
    /// payload does not own (bwrap's <c>--disable-userns</c>). Needs a new user namespace.
    /// </summary>
    Deny,
    /// <summary>
    /// Allowed (<c>--allow-userns</c>): the seccomp profile lets namespace flags, clone3 and mounting through,
    /// and Landlock is off unless asked for (it forbids mounting).
    /// </summary>
    Allow,
    /// <summary>
    /// Left to the seccomp profile alone: neither <c>max_user_namespaces</c> nor the profile is
    /// changed, so the spec's own policy decides (microbox's profile refuses unshare and setns unless
    /// <c>--allow-syscall</c> names them; husk-runtime follows the OCI config's seccomp profile).
    /// </summary>
    ProfileOnly,
}
