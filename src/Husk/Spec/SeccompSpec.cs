using System.Collections.Immutable;
using Husk.Policy;

namespace Husk;

/// <summary>A system call that fails with an errno instead of running (<c>--deny-syscall NAME:ERRNO</c>).</summary>
public readonly record struct SyscallDenial(string Name, int Errno);

/// <summary>
/// The payload's seccomp filter as intent: a profile with rules over it, compiled by the planner
/// (for the architecture it runs on), plus raw programs as an escape hatch (bwrap's <c>--seccomp</c>).
/// </summary>
public sealed record SeccompSpec
{
    // Unset means Husk's default profile, built on first use: a spec that never reads it (bwrap's,
    // raw programs only) does not pay for building its tables on a cold start.
    private readonly SeccompPolicy? _profile;
    private readonly bool _profileSet;

    /// <summary>The profile (Husk's default: an allow list in the spirit of Docker's), or null for no filter but <see cref="Deny"/>.</summary>
    public SeccompPolicy? Profile
    {
        get => _profileSet ? _profile : SeccompProfiles.Default;
        init
        {
            _profile = value;
            _profileSet = true;
        }
    }
    /// <summary>System calls allowed whatever the profile says (<c>--allow-syscall</c>).</summary>
    public ImmutableArray<string> Allow { get; init; } = [];
    /// <summary>System calls that fail whatever else is said (<c>--deny-syscall</c>).</summary>
    public ImmutableArray<SyscallDenial> Deny { get; init; } = [];
    /// <summary>Classic BPF programs (8 bytes per instruction) installed before the compiled one, in order.</summary>
    public ImmutableArray<ImmutableArray<byte>> RawPrograms { get; init; } = [];
    /// <summary>
    /// The notify actions of the last filter go to a user-notification listener the supervisor
    /// holds (a profile with notify rules, or the last raw program).
    /// </summary>
    public bool UserNotification { get; init; }

    /// <summary>Equal when every member is (an unset profile and Husk's default are the same profile).</summary>
    public bool Equals(SeccompSpec? other) =>
        other is not null
        && ((!_profileSet && !other._profileSet) || EqualityComparer<SeccompPolicy?>.Default.Equals(Profile, other.Profile))
        && Allow.Equals(other.Allow) && Deny.Equals(other.Deny) && RawPrograms.Equals(other.RawPrograms)
        && UserNotification == other.UserNotification;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Profile, Allow, Deny, RawPrograms, UserNotification);

    /// <summary>Husk's default profile.</summary>
    public static SeccompSpec Default { get; } = new();
    /// <summary>No filter at all.</summary>
    public static SeccompSpec None { get; } = new() { Profile = null };
    /// <summary>A profile of your own.</summary>
    public static SeccompSpec Of(SeccompPolicy profile) => new() { Profile = profile };
    /// <summary>Raw programs only.</summary>
    public static SeccompSpec Raw(params ImmutableArray<byte>[] programs) => new() { Profile = null, RawPrograms = [.. programs] };
}
