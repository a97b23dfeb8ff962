using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Husk;

/// <summary>How ids inside a new user namespace map to the host.</summary>
public enum IdMapping
{
    /// <summary>
    /// One id without helpers for an unprivileged caller (the caller to the inside id); for root, a
    /// subordinate range so that the payload is never the host's uid 0.
    /// </summary>
    Auto,
    /// <summary>Only the caller's id, mapped to the inside id, even for root.</summary>
    Single,
    /// <summary>The caller's id plus a whole subordinate range (/etc/subuid, newuidmap), for chown-heavy work.</summary>
    SubordinateRange,
    /// <summary>Nothing is written: another process maps ids (bwrap's --userns-block-fd).</summary>
    External,
    /// <summary>
    /// Exactly <see cref="Identity.UidMappings"/> and <see cref="Identity.GidMappings"/> (an OCI
    /// config's): written directly by root or for the caller's own single id, otherwise by newuidmap
    /// and newgidmap, which check them against /etc/subuid and /etc/subgid.
    /// </summary>
    Explicit,
}

/// <summary>One line of a user namespace's id map: <see cref="Count"/> ids from <see cref="Inside"/> are <see cref="Outside"/> onwards in the parent namespace.</summary>
public readonly record struct IdRange(uint Inside, uint Outside, uint Count);

/// <summary>Who the payload is inside the sandbox.</summary>
public sealed record Identity
{
    /// <summary>The uid inside, or null for the caller's own.</summary>
    public uint? Uid { get; init; }
    /// <summary>The gid inside, or null for the caller's own.</summary>
    public uint? Gid { get; init; }
    /// <summary>How the ids map to the host.</summary>
    public IdMapping Mapping { get; init; } = IdMapping.Auto;
    /// <summary>Supplementary groups of the payload (ids inside); empty: none.</summary>
    public ImmutableArray<uint> AdditionalGids { get; init; } = [];
    /// <summary>The uid map of <see cref="IdMapping.Explicit"/>.</summary>
    public ImmutableArray<IdRange> UidMappings { get; init; } = [];
    /// <summary>The gid map of <see cref="IdMapping.Explicit"/>.</summary>
    public ImmutableArray<IdRange> GidMappings { get; init; } = [];

    /// <summary>The caller as uid and gid 0 inside (mkosi's and the CLI's --become-root).</summary>
    public static Identity Root { get; } = new() { Uid = 0, Gid = 0 };
}

/// <summary>Capability sets of the payload; bit N is capability N.</summary>
public sealed record CapabilitySet
{
    /// <summary>Bounding set: nothing outside it can ever be gained, also not by exec as root.</summary>
    public ulong Bounding { get; init; }
    /// <summary>Permitted set.</summary>
    public ulong Permitted { get; init; }
    /// <summary>Effective set.</summary>
    public ulong Effective { get; init; }
    /// <summary>Inheritable set.</summary>
    public ulong Inheritable { get; init; }
    /// <summary>Ambient set, kept across exec by a non-root payload.</summary>
    public ulong Ambient { get; init; }
    /// <summary>Lock the securebits so root inside gains nothing by exec (no-root, no setuid fixup).</summary>
    public bool LockSecureBits { get; init; }
    /// <summary>
    /// Leave the bounding, permitted, effective and inheritable sets (and securebits) as they are and
    /// only raise each <see cref="Ambient"/> capability the process can (one that is not both permitted
    /// and inheritable is skipped). bubblewrap does this for root.
    /// </summary>
    public bool OnlyRaiseAmbient { get; init; }

    /// <summary>No capabilities at all, secure bits locked: the native CLI's default.</summary>
    public static CapabilitySet None { get; } = new() { LockSecureBits = true };

    /// <summary>The given capabilities in every set, ambient included.</summary>
    public static CapabilitySet Exactly(ulong caps) =>
        new() { Bounding = caps, Permitted = caps, Effective = caps, Inheritable = caps, Ambient = caps };
}

/// <summary>
/// A descriptor of the caller given to the payload under a number. Two mappings are equal when
/// they give the same descriptor number under the same number, whichever handle holds it.
/// </summary>
public readonly record struct FdMapping(SafeHandle Host, int SandboxFd)
{
    /// <summary>The caller's descriptor number.</summary>
    public int HostFd => Descriptors.Number(Host);

    /// <inheritdoc/>
    public bool Equals(FdMapping other) => HostFd == other.HostFd && SandboxFd == other.SandboxFd;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(HostFd, SandboxFd);
}

/// <summary>Descriptors in the spec are <see cref="SafeHandle"/>s; these help where a number is all there is.</summary>
public static class Descriptors
{
    /// <summary>A handle for descriptor <paramref name="fd"/> of this process that the spec uses without ever closing it.</summary>
    public static SafeHandle Borrow(int fd) => new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: false);

    /// <summary>As <see cref="Borrow(int)"/>, or null for none.</summary>
    internal static SafeHandle? BorrowOrNull(int? fd) => fd is { } n ? Borrow(n) : null;

    /// <summary>The descriptor number a handle holds.</summary>
    public static int Number(SafeHandle handle) => (int)handle.DangerousGetHandle();
}

/// <summary>A terminal window size in character cells.</summary>
public readonly record struct TerminalSize(ushort Rows, ushort Columns);
