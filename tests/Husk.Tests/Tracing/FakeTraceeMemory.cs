using System.Text;
using Husk.Tracing;

namespace Husk.Tests.Tracing;

/// <summary>A made-up tracee's memory: regions placed at addresses; reads stop where a region ends.</summary>
internal sealed class FakeTraceeMemory : ITraceeMemory
{
    private readonly List<(ulong At, byte[] Bytes)> _regions = [];

    public FakeTraceeMemory Place(ulong at, byte[] bytes)
    {
        _regions.Add((at, bytes));
        return this;
    }

    public FakeTraceeMemory Place(ulong at, string text) => Place(at, [.. Encoding.UTF8.GetBytes(text), 0]);

    /// <summary>Pointers (8 bytes each), ending with NULL.</summary>
    public FakeTraceeMemory Pointers(ulong at, params ulong[] pointers) =>
        Place(at, [.. pointers.Append(0UL).SelectMany(BitConverter.GetBytes)]);

    public int Read(ulong address, Span<byte> buffer)
    {
        foreach (var (at, bytes) in _regions)
        {
            if (address >= at && address < at + (ulong)bytes.Length)
            {
                int offset = (int)(address - at);
                int n = Math.Min(buffer.Length, bytes.Length - offset);
                bytes.AsSpan(offset, n).CopyTo(buffer);
                return n;
            }
        }
        return -1;
    }
}
