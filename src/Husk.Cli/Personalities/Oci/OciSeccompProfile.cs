using System.Collections.Immutable;
using Husk.Policy;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// OCI's linux.seccomp (libseccomp's vocabulary: SCMP_ACT_*, SCMP_CMP_*, SCMP_ARCH_*) as a
/// <see cref="SeccompPolicy"/> for Husk's own compiler, following runc's reading: a rule's argument
/// tests are all required, unless one argument is tested twice, when each test is a rule of its
/// own (either may hold); names no architecture knows are skipped, as libseccomp's resolver does.
/// </summary>
internal static class OciSeccompProfile
{
    /// <summary>EPERM: what SCMP_ACT_ERRNO returns when the rule gives no errnoRet.</summary>
    private const int DefaultErrno = 1;

    private static readonly string[] KnownFlags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

    private static readonly string[] KnownArchitectures =
    [
        "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    ];

    /// <summary>The policy, whether it has notify rules (a listener is then needed), and warnings for what is ignored.</summary>
    /// <param name="s">The config's linux.seccomp.</param>
    /// <param name="warnings">What is ignored, for the log's warnings.</param>
    /// <param name="notes">What is done differently from libseccomp but safely, for the log's debug lines.</param>
    public static (SeccompPolicy Policy, bool Notify) Map(OciSeccomp s, List<string> warnings, List<string>? notes = null)
    {
        foreach (string flag in s.Flags)
        {
            if (!KnownFlags.Contains(flag))
                throw new OciConfigException($"{s.Where}.flags: unknown seccomp flag {flag}");
            if (flag is "SECCOMP_FILTER_FLAG_LOG" or "SECCOMP_FILTER_FLAG_SPEC_ALLOW" or "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")
                warnings.Add($"{s.Where}.flags: {flag} is ignored");
        }
        foreach (string arch in s.Architectures)
        {
            if (!KnownArchitectures.Contains(arch))
                throw new OciConfigException($"{s.Where}.architectures: unknown architecture {arch}");
        }
        var defaultAction = Action(s.DefaultAction, s.DefaultErrnoRet, s.Where + ".defaultAction", isDefault: true);
        var rules = ImmutableArray.CreateBuilder<SeccompRule>();
        bool notify = defaultAction.Kind == SeccompActionKind.UserNotify;
        foreach (var rule in s.Syscalls)
        {
            if (rule.Names.IsDefaultOrEmpty)
                throw new OciConfigException($"{rule.Where}.names: no system call named");
            var action = Action(rule.Action, rule.ErrnoRet, rule.Where + ".action", isDefault: false);
            notify |= action.Kind == SeccompActionKind.UserNotify;
            var conditions = rule.Args.Select(Condition).ToList();
            // runc: one rule with every test, unless an argument is tested more than once (then either test).
            bool separate = rule.Args.GroupBy(a => a.Index).Any(g => g.Count() > 1);
            foreach (string name in rule.Names)
            {
                if (!SyscallTable.IsKnown(name))
                    continue;
                if (separate)
                {
                    foreach (var c in conditions)
                        rules.Add(new SeccompRule(name, action) { Conditions = [c] });
                }
                else
                {
                    rules.Add(new SeccompRule(name, action) { Conditions = [.. conditions] });
                }
            }
        }
        if (notify && s.ListenerPath is null)
            throw new OciConfigException($"{s.Where}: SCMP_ACT_NOTIFY needs a listenerPath");
        // Husk compiles for this machine's architecture only: calls of another one (i386 or x32
        // programs) are refused outright rather than let through unfiltered.
        var foreign = defaultAction.Kind is SeccompActionKind.Allow or SeccompActionKind.Log or SeccompActionKind.UserNotify
            ? SeccompAction.Fail(Errno.ENOSYS)
            : defaultAction;
        if (s.Architectures.Any(a => a is not ("SCMP_ARCH_X86_64" or "SCMP_ARCH_AARCH64")))
            notes?.Add($"{s.Where}.architectures: only the native architecture's calls are filtered; calls of {string.Join(", ", s.Architectures.Where(a => a is not ("SCMP_ARCH_X86_64" or "SCMP_ARCH_AARCH64")))} get {foreign}");
        return (new SeccompPolicy { DefaultAction = defaultAction, ForeignAction = foreign, Rules = rules.ToImmutable() }, notify);
    }

    private static SeccompAction Action(string name, uint? errnoRet, string where, bool isDefault)
    {
        if (errnoRet is > 4095)
            throw new OciConfigException($"{where}: errnoRet {errnoRet} is not an errno");
        return name switch
        {
            "SCMP_ACT_ALLOW" => SeccompAction.Allow,
            "SCMP_ACT_ERRNO" => SeccompAction.Fail((int)(errnoRet ?? DefaultErrno)),
            "SCMP_ACT_KILL" or "SCMP_ACT_KILL_THREAD" => SeccompAction.KillThread,
            "SCMP_ACT_KILL_PROCESS" => SeccompAction.KillProcess,
            "SCMP_ACT_TRAP" => SeccompAction.Trap,
            "SCMP_ACT_LOG" => SeccompAction.Log,
            "SCMP_ACT_TRACE" => SeccompAction.Trace((ushort)(errnoRet ?? DefaultErrno)),
            "SCMP_ACT_NOTIFY" when isDefault => throw new OciConfigException($"{where}: SCMP_ACT_NOTIFY cannot be the default action"),
            "SCMP_ACT_NOTIFY" => SeccompAction.UserNotify,
            _ => throw new OciConfigException($"{where}: unknown seccomp action {name}"),
        };
    }

    private static ArgumentCondition Condition(OciSeccompArg a)
    {
        if (a.Index is < 0 or > 5)
            throw new OciConfigException($"{a.Where}.index: {a.Index} is not an argument (0 to 5)");
        return a.Op switch
        {
            "SCMP_CMP_NE" => new ArgumentCondition(a.Index, ArgumentComparison.NotEqual, a.Value),
            "SCMP_CMP_LT" => new ArgumentCondition(a.Index, ArgumentComparison.Less, a.Value),
            "SCMP_CMP_LE" => new ArgumentCondition(a.Index, ArgumentComparison.LessOrEqual, a.Value),
            "SCMP_CMP_EQ" => new ArgumentCondition(a.Index, ArgumentComparison.Equal, a.Value),
            "SCMP_CMP_GE" => new ArgumentCondition(a.Index, ArgumentComparison.GreaterOrEqual, a.Value),
            "SCMP_CMP_GT" => new ArgumentCondition(a.Index, ArgumentComparison.Greater, a.Value),
            // libseccomp: value is the mask, valueTwo the datum.
            "SCMP_CMP_MASKED_EQ" => ArgumentCondition.Masked(a.Index, a.Value, a.ValueTwo),
            _ => throw new OciConfigException($"{a.Where}.op: unknown comparison {a.Op}"),
        };
    }
}
