using System.Runtime.InteropServices;
using static Husk.Interop.Interop;

namespace Husk.Tracing;

/// <summary>A traced thread's memory, read-only: what the decoders read arguments from.</summary>
internal interface ITraceeMemory
{
    /// <summary>
    /// Reads up to <paramref name="buffer"/>'s length from <paramref name="address"/>; returns how
    /// many bytes were read (fewer where the mapping ends), or -1 when nothing could be.
    /// </summary>
    int Read(ulong address, Span<byte> buffer);
}

/// <summary>
/// Reads a tracee's memory with process_vm_readv (one call per read, no /proc/PID/mem descriptor
/// to keep). A read that crosses into an unmapped page returns what came before it, so strings
/// are read up to a page boundary at a time.
/// </summary>
internal sealed class TraceeMemory(int tid) : ITraceeMemory
{
    public unsafe int Read(ulong address, Span<byte> buffer)
    {
        if (address == 0 || buffer.IsEmpty)
            return -1;
        fixed (byte* p = buffer)
        {
            var local = new IoVec { Base = (nint)p, Length = (nuint)buffer.Length };
            var remote = new IoVec { Base = (nint)address, Length = (nuint)buffer.Length };
            nint n = ProcessVmReadv(tid, &local, 1, &remote, 1, 0);
            return n < 0 ? -1 : (int)n;
        }
    }
}

/// <summary>Reading helpers over <see cref="ITraceeMemory"/>.</summary>
internal static class TraceeMemoryReads
{
    private const int Page = 4096;

    /// <summary>A NUL-terminated string of at most <paramref name="max"/> bytes; null when unreadable. <paramref name="truncated"/> when no NUL came within the limit.</summary>
    public static byte[]? ReadCString(this ITraceeMemory memory, ulong address, int max, out bool truncated)
    {
        truncated = false;
        if (address == 0)
            return null;
        var result = new List<byte>(64);
        Span<byte> chunk = stackalloc byte[256];
        ulong at = address;
        while (result.Count < max)
        {
            // Never across a page boundary in one read: the next page may be unmapped.
            int want = (int)Math.Min((ulong)chunk.Length, Page - (at % Page));
            want = Math.Min(want, max - result.Count);
            int n = memory.Read(at, chunk[..want]);
            if (n <= 0)
                return result.Count == 0 ? null : [.. result];
            int nul = chunk[..n].IndexOf((byte)0);
            if (nul >= 0)
            {
                foreach (byte b in chunk[..nul])
                    result.Add(b);
                return [.. result];
            }
            foreach (byte b in chunk[..n])
                result.Add(b);
            at += (ulong)n;
        }
        truncated = true;
        return [.. result];
    }

    /// <summary>Exactly <paramref name="length"/> bytes, or null.</summary>
    public static byte[]? ReadExactly(this ITraceeMemory memory, ulong address, int length)
    {
        if (address == 0 || length < 0)
            return null;
        var buffer = new byte[length];
        return length == 0 || memory.Read(address, buffer) == length ? buffer : null;
    }

    /// <summary>A value of an unmanaged type, or null.</summary>
    public static T? ReadValue<T>(this ITraceeMemory memory, ulong address) where T : unmanaged
    {
        Span<byte> buffer = stackalloc byte[System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        if (address == 0 || memory.Read(address, buffer) != buffer.Length)
            return null;
        return MemoryMarshal.Read<T>(buffer);
    }
}
