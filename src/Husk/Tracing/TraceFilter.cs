using System.Collections.Immutable;
using Husk.Policy;

namespace Husk.Tracing;

/// <summary>
/// The seccomp program a trace adds: RET_TRACE, with <see cref="Marker"/> as its data, for the
/// calls in the set and RET_ALLOW for the rest, so only the set stops (the others cost the
/// filter's check). The payload's own ptrace fails with EPERM: a traced program cannot trace
/// (nor, already traced, be traced by) anything else. Other architectures are left to the other
/// filters (the default profile kills them).
/// </summary>
internal static class TraceFilter
{
    /// <summary>The data Husk's trace filter returns: a stop with other data comes from a filter of the caller's own.</summary>
    public const ushort Marker = 0x4855;

    public static ImmutableArray<byte> Compile(SyscallSet set) => SeccompCompiler.Compile(Policy(set));

    internal static SeccompPolicy Policy(SyscallSet set)
    {
        var trace = SeccompAction.Trace(Marker);
        var rules = set.IsAll ? [] : set.Names.Where(n => n != "ptrace").Select(n => new SeccompRule(n, trace));
        return new SeccompPolicy
        {
            DefaultAction = set.IsAll ? trace : SeccompAction.Allow,
            ForeignAction = SeccompAction.Allow,
            UnknownAction = null,
            Rules = [.. rules, new SeccompRule("ptrace", SeccompAction.Fail(Errno.EPERM))],
        };
    }
}
