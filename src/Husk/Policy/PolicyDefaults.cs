using System.Collections.Immutable;

namespace Husk.Policy;

/// <summary>
/// How <c>husk run</c>'s policy options become a seccomp filter and a Landlock ruleset; shared by
/// the command line and <see cref="SandboxSpecBuilder"/>, so both give the same walls.
/// </summary>
internal static class PolicyDefaults
{
    /// <summary>
    /// The seccomp policy: the profile, then --allow-syscall over it and --deny-syscall over
    /// everything (--allow-userns adds the calls nested sandboxes need); null for none.
    /// </summary>
    public static SeccompPolicy? Seccomp(SeccompPolicy? profile, IEnumerable<string> allow, IReadOnlyCollection<SyscallDenial> deny, bool allowUserNamespaces)
    {
        bool unconfined = profile is null;
        if (unconfined && deny.Count == 0)
            return null; // nothing to filter (bwrap's way): no rules to build
        var rules = ImmutableArray.CreateBuilder<SeccompRule>();
        foreach (string name in allow)
            rules.Add(new SeccompRule(name, SeccompAction.Allow) { Priority = 1000 });
        foreach (var (name, errno) in deny)
            rules.Add(new SeccompRule(name, SeccompAction.Fail(errno)) { Priority = 2000 });
        if (allowUserNamespaces)
        {
            // Nested sandboxes: clone and unshare without the namespace-flag conditions, clone3 (Husk's
            // own stage needs CLONE_PIDFD) and the mount family, which only works in a namespace the
            // payload made itself (it holds no capabilities in the sandbox's own).
            foreach (string name in NestingCalls)
                rules.Add(new SeccompRule(name, SeccompAction.Allow) { Priority = 500 });
        }
        if (unconfined)
        {
            return new SeccompPolicy { DefaultAction = SeccompAction.Allow, ForeignAction = SeccompAction.Allow, UnknownAction = null, Rules = rules.ToImmutable() };
        }
        return profile!.With(rules.ToImmutable());
    }

    private static readonly string[] NestingCalls =
        ["clone", "clone3", "unshare", "setns", "mount", "umount2", "pivot_root", "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick"];

    /// <summary>The capability set for a mask of kept capabilities (none: an empty set; else those, securebits locked).</summary>
    public static CapabilitySet Capabilities(ulong kept) =>
        kept == 0 ? CapabilitySet.None : CapabilitySet.Exactly(kept) with { LockSecureBits = true };
}
