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
    /// Not Husk's to decide: no limit is set and neither the seccomp profile nor Landlock is changed,
    /// so the spec's own policy alone says (an OCI config's seccomp profile, for husk-runtime).
    /// </summary>
    Permit,
}
