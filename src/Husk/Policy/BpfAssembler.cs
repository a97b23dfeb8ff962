using System.Buffers.Binary;

namespace Husk.Policy;

/// <summary>
/// Classic BPF with forward labels. Conditional jumps reach 255 instructions; one that must go
/// farther becomes a conditional hop onto two unconditional jumps (which reach anywhere), and the
/// layout is redone until every jump fits.
/// </summary>
internal sealed class BpfAssembler
{
    public const ushort LdAbsW = 0x20;   // BPF_LD | BPF_W | BPF_ABS
    public const ushort AndK = 0x54;     // BPF_ALU | BPF_AND | BPF_K
    public const ushort Ja = 0x05;       // BPF_JMP | BPF_JA
    public const ushort JeqK = 0x15;     // BPF_JMP | BPF_JEQ | BPF_K
    public const ushort JgtK = 0x25;     // BPF_JMP | BPF_JGT | BPF_K
    public const ushort JgeK = 0x35;     // BPF_JMP | BPF_JGE | BPF_K
    public const ushort RetK = 0x06;     // BPF_RET | BPF_K
    /// <summary>BPF_MAXINSNS: the kernel refuses longer programs.</summary>
    public const int MaxInstructions = 4096;

    private readonly List<Insn> _code = [];
    private readonly List<int> _labels = [];

    private readonly record struct Insn(ushort Code, uint K, int True = -1, int False = -1);

    public int Count => _code.Count;

    public int NewLabel()
    {
        _labels.Add(-1);
        return _labels.Count - 1;
    }

    /// <summary>The label now names the next instruction emitted.</summary>
    public void Mark(int label) => _labels[label] = _code.Count;

    public void Load(uint offset) => _code.Add(new Insn(LdAbsW, offset));

    public void And(uint mask) => _code.Add(new Insn(AndK, mask));

    public void Return(uint value) => _code.Add(new Insn(RetK, value));

    public void Jump(int label) => _code.Add(new Insn(Ja, 0, label));

    /// <summary>A conditional jump: to <paramref name="ifTrue"/> when A op k holds, else to <paramref name="ifFalse"/>.</summary>
    public void Branch(ushort op, uint k, int ifTrue, int ifFalse) => _code.Add(new Insn(op, k, ifTrue, ifFalse));

    public byte[] Assemble()
    {
        var far = new bool[_code.Count];
        while (true)
        {
            // Where each source instruction starts once far jumps take three slots.
            var start = new int[_code.Count + 1];
            for (int i = 0; i < _code.Count; i++)
                start[i + 1] = start[i] + (far[i] ? 3 : 1);
            int Target(int label)
            {
                int at = _labels[label];
                if (at < 0)
                    throw new InvalidOperationException("BPF label never marked");
                return start[at];
            }
            bool changed = false;
            for (int i = 0; i < _code.Count; i++)
            {
                var insn = _code[i];
                if (far[i] || insn.Code == Ja || insn.True < 0)
                    continue;
                int t = Target(insn.True) - start[i] - 1, f = Target(insn.False) - start[i] - 1;
                if (t < 0 || f < 0)
                    throw new InvalidOperationException("BPF jumps must go forward");
                if (t > 255 || f > 255)
                {
                    far[i] = true;
                    changed = true;
                }
            }
            if (changed)
                continue;

            int total = start[_code.Count];
            if (total > MaxInstructions)
                throw new InvalidOperationException($"the seccomp filter has {total} instructions, more than the kernel's {MaxInstructions}");
            var bytes = new byte[total * 8];
            int pc = 0;
            void Put(ushort code, byte jt, byte jf, uint k)
            {
                var span = bytes.AsSpan(pc * 8, 8);
                BinaryPrimitives.WriteUInt16LittleEndian(span, code);
                span[2] = jt;
                span[3] = jf;
                BinaryPrimitives.WriteUInt32LittleEndian(span[4..], k);
                pc++;
            }
            for (int i = 0; i < _code.Count; i++)
            {
                var insn = _code[i];
                if (insn.Code == Ja)
                {
                    Put(Ja, 0, 0, (uint)(Target(insn.True) - pc - 1));
                }
                else if (insn.True < 0)
                {
                    Put(insn.Code, 0, 0, insn.K);
                }
                else if (far[i])
                {
                    // jcond +0 / +1, then "ja true", "ja false".
                    Put(insn.Code, 0, 1, insn.K);
                    Put(Ja, 0, 0, (uint)(Target(insn.True) - pc - 1));
                    Put(Ja, 0, 0, (uint)(Target(insn.False) - pc - 1));
                }
                else
                {
                    Put(insn.Code, (byte)(Target(insn.True) - pc - 1), (byte)(Target(insn.False) - pc - 1), insn.K);
                }
            }
            return bytes;
        }
    }
}
