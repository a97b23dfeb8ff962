using System.Buffers.Binary;

namespace Husk.Tests.Policy;

/// <summary>
/// Runs a seccomp cBPF program on a seccomp_data the way the kernel does (the subset of classic
/// BPF seccomp accepts), so every syscall number can be checked without a kernel.
/// </summary>
internal static class BpfInterpreter
{
    public static uint Run(ReadOnlySpan<byte> program, uint arch, uint nr, params ulong[] args)
    {
        Span<byte> data = stackalloc byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(data, nr);
        BinaryPrimitives.WriteUInt32LittleEndian(data[4..], arch);
        for (int i = 0; i < args.Length; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(data[(16 + 8 * i)..], args[i]);
        int count = program.Length / 8;
        uint a = 0;
        int pc = 0;
        for (int steps = 0; steps < 100_000; steps++)
        {
            if (pc >= count)
                throw new InvalidOperationException($"fell off the end at {pc}");
            var insn = program.Slice(pc * 8, 8);
            ushort code = BinaryPrimitives.ReadUInt16LittleEndian(insn);
            byte jt = insn[2], jf = insn[3];
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(insn[4..]);
            pc++;
            switch (code)
            {
                case 0x20:
                    if (k % 4 != 0 || k > 60)
                        throw new InvalidOperationException($"bad load offset {k}");
                    a = BinaryPrimitives.ReadUInt32LittleEndian(data[(int)k..]);
                    break;
                case 0x54: a &= k; break;
                case 0x05: pc += (int)k; break;
                case 0x15: pc += a == k ? jt : jf; break;
                case 0x25: pc += a > k ? jt : jf; break;
                case 0x35: pc += a >= k ? jt : jf; break;
                case 0x45: pc += (a & k) != 0 ? jt : jf; break;
                case 0x06: return k;
                default: throw new InvalidOperationException($"unexpected opcode 0x{code:x} at {pc - 1}");
            }
        }
        throw new InvalidOperationException("no return");
    }
}
