using System.Runtime.InteropServices;
using System.Text;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// A <see cref="SpawnPlan"/> laid out in native memory: the op array and everything its pointers
/// reach (strings, argv and envp, data, capability sets). Allocated before the clone, freed after
/// the child has exec'd or failed. The child writes only where the plan leaves it room: the
/// exec op's pid entry of envp and the spare slot before argv.
/// </summary>
internal sealed unsafe class NativePlan : IDisposable
{
    private readonly List<nint> _blocks = [];

    public NativePlan(SpawnPlan plan)
    {
        int n = plan.Ops.Count;
        Ops = (HuskOp*)Alloc(sizeof(HuskOp) * Math.Max(n, 1));
        Count = n;
        // The exec op's envp must exist before a chdir op can point at one of its slots.
        var envArrays = new Dictionary<PlannedOp, nint>();
        var execOp = plan.Ops[plan.ExecOpIndex];
        nint envp = StringArray(execOp.Strings2 ?? []);
        envArrays[execOp] = envp;
        for (int i = 0; i < n; i++)
        {
            var p = plan.Ops[i];
            var op = new HuskOp
            {
                Kind = (uint)p.Kind,
                Flags = (uint)p.Flags,
                Fd = p.Fd,
                Mode = p.Mode,
                A = p.A,
                B = p.B,
                C = p.C,
                S1 = Str(p.S1),
                S2 = Str(p.S2),
            };
            if (p.Data is not null)
                op.P1 = (ulong)Bytes(p.Data);
            if (p.Strings is not null)
                op.P1 = (ulong)StringArray(p.Strings, spareFront: (p.Flags & OpFlags.ScriptShell) != 0);
            if (p.Ints is not null)
                op.P1 = (ulong)Ints(p.Ints);
            if (p.Caps is { } caps)
            {
                var c = (HuskCaps*)Alloc(sizeof(HuskCaps));
                *c = caps;
                op.P1 = (ulong)c;
            }
            if (p.Strings2 is not null)
                op.P2 = envArrays.TryGetValue(p, out nint arr) ? (ulong)arr : (ulong)StringArray(p.Strings2);
            if (p.EnvSlot >= 0)
                op.C = (ulong)(envp + p.EnvSlot * sizeof(nint));
            Ops[i] = op;
        }
    }

    public HuskOp* Ops { get; }

    public int Count { get; }

    private nint Alloc(int size)
    {
        nint p = (nint)NativeMemory.AllocZeroed((nuint)Math.Max(size, 1));
        _blocks.Add(p);
        return p;
    }

    private ulong Str(string? s)
    {
        if (s is null)
            return 0;
        int len = Encoding.UTF8.GetByteCount(s);
        byte* p = (byte*)Alloc(len + 1);
        Encoding.UTF8.GetBytes(s, new Span<byte>(p, len));
        p[len] = 0;
        return (ulong)p;
    }

    private nint Bytes(byte[] data)
    {
        nint p = Alloc(data.Length);
        data.CopyTo(new Span<byte>((void*)p, data.Length));
        return p;
    }

    private nint Ints(int[] values)
    {
        int* p = (int*)Alloc(sizeof(int) * Math.Max(values.Length, 1));
        for (int i = 0; i < values.Length; i++)
            p[i] = values[i];
        return (nint)p;
    }

    /// <summary>A NULL-terminated array; with <paramref name="spareFront"/>, one more slot before the first entry (the stage builds a script's /bin/sh argv there).</summary>
    private nint StringArray(string[] values, bool spareFront = false)
    {
        int front = spareFront ? 1 : 0;
        ulong* arr = (ulong*)Alloc(sizeof(ulong) * (front + values.Length + 1)) + front;
        for (int i = 0; i < values.Length; i++)
            arr[i] = Str(values[i]);
        arr[values.Length] = 0;
        return (nint)arr;
    }

    public void Dispose()
    {
        foreach (nint p in _blocks)
            NativeMemory.Free((void*)p);
        _blocks.Clear();
    }
}
