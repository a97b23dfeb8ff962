using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// A <see cref="SpawnPlan"/> laid out in one buffer (husk_plan_image in husk_abi.h): the header,
/// the op array and everything its pointers reach (strings, argv and envp, data, capability sets).
/// Every pointer holds an offset from the buffer's start and is listed in a relocation table, so
/// the buffer can be placed anywhere: the cold path copies it into native memory and relocates it
/// there (<see cref="NativePlan"/>), a pool sends it to its template, which relocates it in its own.
/// </summary>
internal sealed class PlanImage
{
    // Sizes and offsets from the structs' own layout: they are blittable (only integers, sequential),
    // so it is the C stage's; Marshal.SizeOf and OffsetOf look metadata up, on every cold start.
    private static readonly int HeaderSize = Unsafe.SizeOf<PlanImageHeader>();
    private static readonly int OpSize = Unsafe.SizeOf<HuskOp>();
    private static readonly int FdField = OpField(OpFieldKind.Fd);
    /// <summary>The op fields that hold pointers when they are not zero (s1, s2, p1, p2).</summary>
    private static readonly int[] PointerFields = [OpField(OpFieldKind.S1), OpField(OpFieldKind.S2), OpField(OpFieldKind.P1), OpField(OpFieldKind.P2)];
    private static readonly int CField = OpField(OpFieldKind.C);

    /// <summary>The fields of <see cref="HuskOp"/> the image patches.</summary>
    internal enum OpFieldKind { Fd, C, S1, S2, P1, P2 }

    /// <summary>Where a field sits in a <see cref="HuskOp"/>.</summary>
    internal static unsafe int OpField(OpFieldKind field)
    {
        HuskOp op = default;
        byte* at = field switch
        {
            OpFieldKind.Fd => (byte*)&op.Fd,
            OpFieldKind.C => (byte*)&op.C,
            OpFieldKind.S1 => (byte*)&op.S1,
            OpFieldKind.S2 => (byte*)&op.S2,
            OpFieldKind.P1 => (byte*)&op.P1,
            _ => (byte*)&op.P2,
        };
        return (int)(at - (byte*)&op);
    }

    private byte[] _buffer;
    private int _length;
    private readonly List<ulong> _relocations = [];

    private PlanImage(int capacity)
    {
        _buffer = new byte[capacity];
    }

    /// <summary>The image: header, ops, data, relocation table.</summary>
    public ReadOnlySpan<byte> Bytes => _buffer.AsSpan(0, _length);

    /// <summary>Where the op array starts in <see cref="Bytes"/>.</summary>
    public int OpsOffset { get; private set; }

    public int OpCount { get; private set; }

    /// <summary>Where each pointer to relocate sits in <see cref="Bytes"/>.</summary>
    public IReadOnlyList<ulong> Relocations => _relocations;

    /// <summary>Lays <paramref name="plan"/> out; the status fd of husk-init's fork, when the plan has one, is <paramref name="statusFd"/>.</summary>
    public static PlanImage Build(SpawnPlan plan, int statusFd = -1)
    {
        var image = new PlanImage(4096);
        image.Lay(plan, statusFd);
        return image;
    }

    private void Lay(SpawnPlan plan, int statusFd)
    {
        int n = plan.Ops.Count;
        Reserve(HeaderSize);
        OpsOffset = Reserve(OpSize * Math.Max(n, 1));
        OpCount = n;
        // The exec op's envp must exist before a chdir op can point at one of its slots.
        var execOp = plan.Ops[plan.ExecOpIndex];
        int envp = StringArray(execOp.Strings2 ?? []);
        for (int i = 0; i < n; i++)
        {
            var p = plan.Ops[i];
            int at = OpsOffset + i * OpSize;
            var op = new HuskOp
            {
                Kind = (uint)p.Kind,
                Flags = (uint)p.Flags,
                Fd = p.Kind == OpKind.Fork && (p.Flags & OpFlags.InitStatus) != 0 && statusFd >= 0 ? statusFd : p.Fd,
                Mode = p.Mode,
                A = p.A,
                B = p.B,
                C = p.C,
                S1 = Str(p.S1),
                S2 = Str(p.S2),
            };
            if (p.Data is not null)
                op.P1 = (ulong)Data(p.Data);
            if (p.Strings is not null)
                op.P1 = (ulong)StringArray(p.Strings, spareFront: (p.Flags & OpFlags.ScriptShell) != 0);
            if (p.Ints is not null)
                op.P1 = (ulong)Ints(p.Ints);
            if (p.Caps is { } caps)
            {
                int c = Reserve(Unsafe.SizeOf<HuskCaps>());
                MemoryMarshal.Write(_buffer.AsSpan(c), in caps);
                op.P1 = (ulong)c;
            }
            if (p.Strings2 is not null)
                op.P2 = ReferenceEquals(p, execOp) ? (ulong)envp : (ulong)StringArray(p.Strings2);
            if (p.EnvSlot >= 0)
                op.C = (ulong)(envp + p.EnvSlot * sizeof(ulong));
            MemoryMarshal.Write(_buffer.AsSpan(at), in op);
            foreach (int field in PointerFields)
            {
                if (BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan(at + field)) != 0)
                    _relocations.Add((ulong)(at + field));
            }
            if (p.EnvSlot >= 0)
                _relocations.Add((ulong)(at + CField));
        }
        int relocs = Reserve(sizeof(ulong) * _relocations.Count);
        for (int i = 0; i < _relocations.Count; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(relocs + i * sizeof(ulong)), _relocations[i]);
        var header = new PlanImageHeader
        {
            Magic = PlanMagic,
            OpCount = (uint)n,
            Ops = (ulong)OpsOffset,
            Relocs = (ulong)relocs,
            RelocCount = (uint)_relocations.Count,
            Size = (uint)_length,
        };
        MemoryMarshal.Write(_buffer.AsSpan(0), in header);
    }

    /// <summary>Changes the descriptor of op <paramref name="index"/> (the image's bytes only).</summary>
    public void SetFd(int index, int fd) => BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(OpsOffset + index * OpSize + FdField), fd);

    /// <summary>Zeroed room for <paramref name="size"/> bytes, 8-aligned; its offset.</summary>
    private int Reserve(int size)
    {
        int at = (_length + 7) & ~7;
        int end = at + Math.Max(size, 1);
        if (end > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(end, _buffer.Length * 2));
        _length = end;
        return at;
    }

    private ulong Str(string? s)
    {
        if (s is null)
            return 0;
        int len = Encoding.UTF8.GetByteCount(s);
        int at = Reserve(len + 1);
        Encoding.UTF8.GetBytes(s, _buffer.AsSpan(at, len));
        return (ulong)at;
    }

    private int Data(byte[] data)
    {
        int at = Reserve(data.Length);
        data.CopyTo(_buffer.AsSpan(at));
        return at;
    }

    private int Ints(int[] values)
    {
        int at = Reserve(sizeof(int) * Math.Max(values.Length, 1));
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(at + i * sizeof(int)), values[i]);
        return at;
    }

    /// <summary>A NULL-terminated array; with <paramref name="spareFront"/>, one more slot before the first entry (the stage builds a script's /bin/sh argv there).</summary>
    private int StringArray(string[] values, bool spareFront = false)
    {
        int front = spareFront ? 1 : 0;
        int at = Reserve(sizeof(ulong) * (front + values.Length + 1)) + front * sizeof(ulong);
        for (int i = 0; i < values.Length; i++)
        {
            ulong s = Str(values[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(_buffer.AsSpan(at + i * sizeof(ulong)), s);
            _relocations.Add((ulong)(at + i * sizeof(ulong)));
        }
        return at;
    }
}
