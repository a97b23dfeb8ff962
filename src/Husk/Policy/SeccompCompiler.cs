using System.Collections.Immutable;

namespace Husk.Policy;

/// <summary>
/// Compiles a <see cref="SeccompPolicy"/> into a classic BPF seccomp filter for one architecture:
/// the architecture check first (foreign architectures and x32 get the policy's foreign action),
/// then a binary search over system call numbers whose leaves return an action or jump to the
/// argument checks of one system call.
/// </summary>
public static class SeccompCompiler
{
    private const uint OffsetNr = 0;
    private const uint OffsetArch = 4;
    private const uint OffsetArgs = 16;

    /// <summary>Compiles for the architecture this process runs on.</summary>
    public static ImmutableArray<byte> Compile(SeccompPolicy policy) => Compile(policy, SeccompArchitectures.Native);

    /// <summary>Compiles for <paramref name="arch"/>. Throws <see cref="ArgumentException"/> for names no architecture knows.</summary>
    public static ImmutableArray<byte> Compile(SeccompPolicy policy, SeccompArchitecture arch)
    {
        var unknown = policy.UnknownNames();
        if (unknown.Length > 0)
            throw new ArgumentException($"unknown system call: {string.Join(", ", unknown)}", nameof(policy));
        foreach (var rule in policy.Rules)
        {
            foreach (var c in rule.Conditions)
            {
                if (c.Index is < 0 or > 5)
                    throw new ArgumentException($"{rule.Syscall}: argument index {c.Index} is not 0 to 5", nameof(policy));
            }
        }

        var table = SyscallTable.For(arch);
        // Rules per number, highest priority first, then the last given first (a rule added later,
        // by a profile over its base or an option over a profile, overrides).
        var byNumber = new SortedDictionary<int, List<SeccompRule>>();
        foreach (var (rule, order) in policy.Rules.Select((r, i) => (r, i)).OrderByDescending(p => p.r.Priority).ThenByDescending(p => p.i))
        {
            if (table.Number(rule.Syscall) is not { } nr)
                continue;
            if (!byNumber.TryGetValue(nr, out var list))
                byNumber[nr] = list = [];
            list.Add(rule);
        }

        var asm = new BpfAssembler();
        var chains = new List<(int Label, List<SeccompRule> Rules)>();
        var segments = new List<Segment>();
        void Add(uint lo, uint hi, Outcome outcome)
        {
            if (segments.Count > 0 && segments[^1].Outcome.Chain < 0 && outcome.Chain < 0 && segments[^1].Outcome.Action == outcome.Action && segments[^1].High + 1 == lo)
                segments[^1] = segments[^1] with { High = hi };
            else
                segments.Add(new Segment(lo, hi, outcome));
        }
        var fallback = new Outcome(policy.DefaultAction.Value, -1);
        uint next = 0;
        foreach (var (nr, rules) in byNumber)
        {
            if ((uint)nr > next)
                Add(next, (uint)nr - 1, fallback);
            if (rules[0].Conditions.IsEmpty)
            {
                Add((uint)nr, (uint)nr, new Outcome(rules[0].Action.Value, -1));
            }
            else
            {
                int label = asm.NewLabel();
                chains.Add((label, rules));
                Add((uint)nr, (uint)nr, new Outcome(0, label));
            }
            next = (uint)nr + 1;
        }
        bool denies = policy.DefaultAction.Kind is not (SeccompActionKind.Allow or SeccompActionKind.Log);
        var unknown32 = denies && policy.UnknownAction is { } ua ? new Outcome(ua.Value, -1) : fallback;
        if ((uint)table.MaxNumber + 1 > next)
            Add(next, (uint)table.MaxNumber, fallback);
        uint foreignFrom = arch == SeccompArchitecture.X86_64 ? SeccompArchitectures.X32SyscallBit : 0;
        if (foreignFrom != 0)
        {
            Add((uint)table.MaxNumber + 1, foreignFrom - 1, unknown32);
            Add(foreignFrom, uint.MaxValue, new Outcome(policy.ForeignAction.Value, -1));
        }
        else
        {
            Add((uint)table.MaxNumber + 1, uint.MaxValue, unknown32);
        }

        int archOk = asm.NewLabel(), archBad = asm.NewLabel();
        asm.Load(OffsetArch);
        asm.Branch(BpfAssembler.JeqK, arch.AuditArch(), archOk, archBad);
        asm.Mark(archBad);
        asm.Return(policy.ForeignAction.Value);
        asm.Mark(archOk);
        asm.Load(OffsetNr);
        EmitSearch(asm, segments, 0, segments.Count);
        foreach (var (label, rules) in chains)
        {
            asm.Mark(label);
            EmitChain(asm, rules, policy.DefaultAction.Value);
        }
        return [.. asm.Assemble()];
    }

    private readonly record struct Outcome(uint Action, int Chain);

    private readonly record struct Segment(uint Low, uint High, Outcome Outcome);

    /// <summary>Segments [from, to) cover a contiguous range of numbers; A holds the number.</summary>
    private static void EmitSearch(BpfAssembler asm, List<Segment> segments, int from, int to)
    {
        if (to - from == 1)
        {
            var o = segments[from].Outcome;
            if (o.Chain >= 0)
                asm.Jump(o.Chain);
            else
                asm.Return(o.Action);
            return;
        }
        int mid = (from + to) / 2;
        int left = asm.NewLabel(), right = asm.NewLabel();
        asm.Branch(BpfAssembler.JgeK, segments[mid].Low, right, left);
        asm.Mark(left);
        EmitSearch(asm, segments, from, mid);
        asm.Mark(right);
        EmitSearch(asm, segments, mid, to);
    }

    private static void EmitChain(BpfAssembler asm, List<SeccompRule> rules, uint fallback)
    {
        foreach (var rule in rules)
        {
            int nextRule = asm.NewLabel();
            foreach (var c in rule.Conditions)
            {
                int pass = asm.NewLabel();
                EmitCondition(asm, c, pass, nextRule);
                asm.Mark(pass);
            }
            asm.Return(rule.Action.Value);
            asm.Mark(nextRule);
            if (rule.Conditions.IsEmpty)
                return; // nothing after an unconditional rule is reachable
        }
        asm.Return(fallback);
    }

    /// <summary>Jumps to <paramref name="pass"/> (marked right after) or <paramref name="fail"/>; both forward.</summary>
    private static void EmitCondition(BpfAssembler asm, ArgumentCondition c, int pass, int fail)
    {
        uint lo = OffsetArgs + 8 * (uint)c.Index, hi = lo + 4;
        uint vlo = (uint)c.Value, vhi = (uint)(c.Value >> 32);
        bool wide = !c.Is32Bit;
        switch (c.Comparison)
        {
            case ArgumentComparison.Equal:
                if (wide)
                    HighEquals(asm, hi, vhi, fail);
                asm.Load(lo);
                asm.Branch(BpfAssembler.JeqK, vlo, pass, fail);
                break;
            case ArgumentComparison.NotEqual:
                if (wide)
                    HighEquals(asm, hi, vhi, pass);
                asm.Load(lo);
                asm.Branch(BpfAssembler.JeqK, vlo, fail, pass);
                break;
            case ArgumentComparison.MaskedEqual:
                if (wide)
                {
                    int l = asm.NewLabel();
                    asm.Load(hi);
                    asm.And((uint)(c.Mask >> 32));
                    asm.Branch(BpfAssembler.JeqK, vhi, l, fail);
                    asm.Mark(l);
                }
                asm.Load(lo);
                asm.And((uint)c.Mask);
                asm.Branch(BpfAssembler.JeqK, vlo, pass, fail);
                break;
            case ArgumentComparison.Greater:
            case ArgumentComparison.GreaterOrEqual:
                if (wide)
                    HighOrder(asm, hi, vhi, above: pass, below: fail);
                asm.Load(lo);
                asm.Branch(c.Comparison == ArgumentComparison.Greater ? BpfAssembler.JgtK : BpfAssembler.JgeK, vlo, pass, fail);
                break;
            case ArgumentComparison.Less:
            case ArgumentComparison.LessOrEqual:
                if (wide)
                    HighOrder(asm, hi, vhi, above: fail, below: pass);
                asm.Load(lo);
                // a < v is !(a >= v); a <= v is !(a > v).
                asm.Branch(c.Comparison == ArgumentComparison.Less ? BpfAssembler.JgeK : BpfAssembler.JgtK, vlo, fail, pass);
                break;
            case ArgumentComparison.InRange:
            {
                int between = asm.NewLabel();
                EmitCondition(asm, c with { Comparison = ArgumentComparison.GreaterOrEqual }, between, fail);
                asm.Mark(between);
                EmitCondition(asm, c with { Comparison = ArgumentComparison.LessOrEqual, Value = c.High }, pass, fail);
                break;
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(c), c.Comparison, "unknown comparison");
        }
    }

    /// <summary>Falls through when the high word equals <paramref name="v"/>, else jumps to <paramref name="otherwise"/>.</summary>
    private static void HighEquals(BpfAssembler asm, uint offset, uint v, int otherwise)
    {
        int same = asm.NewLabel();
        asm.Load(offset);
        asm.Branch(BpfAssembler.JeqK, v, same, otherwise);
        asm.Mark(same);
    }

    /// <summary>Jumps to <paramref name="above"/> or <paramref name="below"/> when the high word decides, else falls through.</summary>
    private static void HighOrder(BpfAssembler asm, uint offset, uint v, int above, int below)
    {
        int notAbove = asm.NewLabel(), same = asm.NewLabel();
        asm.Load(offset);
        asm.Branch(BpfAssembler.JgtK, v, above, notAbove);
        asm.Mark(notAbove);
        asm.Branch(BpfAssembler.JeqK, v, same, below);
        asm.Mark(same);
    }
}
