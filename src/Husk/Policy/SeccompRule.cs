using System.Collections.Immutable;

namespace Husk.Policy;

/// <summary>How an argument is compared.</summary>
public enum ArgumentComparison
{
    /// <summary>arg == value.</summary>
    Equal,
    /// <summary>arg != value.</summary>
    NotEqual,
    /// <summary>arg &lt; value (unsigned).</summary>
    Less,
    /// <summary>arg &lt;= value (unsigned).</summary>
    LessOrEqual,
    /// <summary>arg &gt; value (unsigned).</summary>
    Greater,
    /// <summary>arg &gt;= value (unsigned).</summary>
    GreaterOrEqual,
    /// <summary>(arg &amp; mask) == value.</summary>
    MaskedEqual,
    /// <summary>value &lt;= arg &lt;= high (unsigned).</summary>
    InRange,
}

/// <summary>
/// One test on a system call argument. <see cref="Is32Bit"/> compares only the low 32 bits, as the
/// kernel reads an int or unsigned int argument: a 64-bit comparison of ioctl's request would let
/// TIOCSTI | 1UL&lt;&lt;32 through, while the kernel still sees TIOCSTI.
/// </summary>
public sealed record ArgumentCondition(int Index, ArgumentComparison Comparison, ulong Value)
{
    /// <summary>The mask for <see cref="ArgumentComparison.MaskedEqual"/>.</summary>
    public ulong Mask { get; init; } = ulong.MaxValue;
    /// <summary>The upper bound for <see cref="ArgumentComparison.InRange"/>.</summary>
    public ulong High { get; init; }
    /// <summary>Compare the low 32 bits only (the argument is an int or unsigned int).</summary>
    public bool Is32Bit { get; init; }

    /// <summary>(arg &amp; mask) == value.</summary>
    public static ArgumentCondition Masked(int index, ulong mask, ulong value, bool is32Bit = false) =>
        new(index, ArgumentComparison.MaskedEqual, value) { Mask = mask, Is32Bit = is32Bit };

    /// <summary>low &lt;= arg &lt;= high.</summary>
    public static ArgumentCondition Range(int index, ulong low, ulong high, bool is32Bit = false) =>
        new(index, ArgumentComparison.InRange, low) { High = high, Is32Bit = is32Bit };

    /// <summary>Whether a raw argument value satisfies the condition (the filter's semantics, for tests and tracing).</summary>
    public bool Matches(ulong arg)
    {
        ulong a = Is32Bit ? arg & 0xFFFFFFFF : arg;
        ulong v = Is32Bit ? Value & 0xFFFFFFFF : Value;
        return Comparison switch
        {
            ArgumentComparison.Equal => a == v,
            ArgumentComparison.NotEqual => a != v,
            ArgumentComparison.Less => a < v,
            ArgumentComparison.LessOrEqual => a <= v,
            ArgumentComparison.Greater => a > v,
            ArgumentComparison.GreaterOrEqual => a >= v,
            ArgumentComparison.MaskedEqual => (a & (Is32Bit ? Mask & 0xFFFFFFFF : Mask)) == v,
            ArgumentComparison.InRange => a >= v && a <= (Is32Bit ? High & 0xFFFFFFFF : High),
            _ => false,
        };
    }
}

/// <summary>
/// A rule: system call <see cref="Syscall"/> gets <see cref="Action"/> when every condition holds.
/// For one system call, rules are tried by descending <see cref="Priority"/>, then from the last
/// given to the first (what is added later overrides); the first whose conditions hold decides;
/// when none does, the policy's default applies.
/// </summary>
public sealed record SeccompRule(string Syscall, SeccompAction Action)
{
    /// <summary>Argument tests, all of which must hold.</summary>
    public ImmutableArray<ArgumentCondition> Conditions { get; init; } = [];
    /// <summary>Higher runs first.</summary>
    public int Priority { get; init; }
}

/// <summary>
/// A whole seccomp policy for one filter: the rules, what every other system call gets, what
/// system calls of a foreign architecture or ABI get, and what numbers newer than Husk's tables get.
/// </summary>
public sealed record SeccompPolicy
{
    /// <summary>For system calls no rule decides.</summary>
    public required SeccompAction DefaultAction { get; init; }
    /// <summary>The rules.</summary>
    public ImmutableArray<SeccompRule> Rules { get; init; } = [];
    /// <summary>For system calls of another architecture (i386, arm) or ABI (x32).</summary>
    public SeccompAction ForeignAction { get; init; } = SeccompAction.KillProcess;
    /// <summary>
    /// For numbers above the newest system call Husk knows, when the default denies: ENOSYS, so a
    /// future libc falls back to an older call instead of failing on EPERM.
    /// </summary>
    public SeccompAction? UnknownAction { get; init; } = SeccompAction.Fail(Errno.ENOSYS);

    /// <summary>
    /// What the filter does with a call of <paramref name="syscall"/> (a native one) with these
    /// arguments: the first rule of the call by priority, then the last given first, whose conditions
    /// all hold, else the default, as the compiled filter decides.
    /// </summary>
    public SeccompAction Decide(string syscall, params ulong[] args) =>
        Rules.Select((r, i) => (Rule: r, Order: i))
            .Where(p => p.Rule.Syscall == syscall)
            .OrderByDescending(p => p.Rule.Priority).ThenByDescending(p => p.Order)
            .Select(p => p.Rule)
            .FirstOrDefault(r => r.Conditions.All(c => c.Matches(c.Index < args.Length ? args[c.Index] : 0)))?.Action ?? DefaultAction;

    /// <summary>This policy with more rules after its own.</summary>
    public SeccompPolicy With(IEnumerable<SeccompRule> rules) => this with { Rules = Rules.AddRange(rules) };

    /// <summary>
    /// Names in rules that no architecture knows (typos): a policy naming them is refused. Names that
    /// exist only on another architecture are fine and skipped when compiling for this one.
    /// </summary>
    public ImmutableArray<string> UnknownNames() =>
        [.. Rules.Select(r => r.Syscall).Where(n => !SyscallTable.IsKnown(n)).Distinct(StringComparer.Ordinal)];
}
