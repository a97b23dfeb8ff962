using System.Buffers.Binary;
using System.Runtime.InteropServices;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// A <see cref="SpawnPlan"/> in native memory: its <see cref="PlanImage"/> copied there and
/// relocated. Allocated before the clone, freed after the child has exec'd or failed. The child
/// writes only where the plan leaves it room: the exec op's pid entry of envp and the spare slot
/// before argv.
/// </summary>
internal sealed unsafe class NativePlan : IDisposable
{
    private byte* _block;

    public NativePlan(SpawnPlan plan, int statusFd = -1)
    {
        var image = PlanImage.Build(plan, statusFd);
        var bytes = image.Bytes;
        _block = (byte*)NativeMemory.AlignedAlloc((nuint)bytes.Length, 16);
        bytes.CopyTo(new Span<byte>(_block, bytes.Length));
        foreach (ulong at in image.Relocations)
        {
            var slot = new Span<byte>(_block + at, sizeof(ulong));
            BinaryPrimitives.WriteUInt64LittleEndian(slot, BinaryPrimitives.ReadUInt64LittleEndian(slot) + (ulong)_block);
        }
        Ops = (HuskOp*)(_block + image.OpsOffset);
        Count = image.OpCount;
    }

    public HuskOp* Ops { get; }

    public int Count { get; }

    public void Dispose()
    {
        if (_block is not null)
            NativeMemory.AlignedFree(_block);
        _block = null;
    }
}
