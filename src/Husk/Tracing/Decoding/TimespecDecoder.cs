namespace Husk.Tracing;

/// <summary>struct timespec as strace prints it: {tv_sec=1, tv_nsec=500000000}.</summary>
internal static class TimespecDecoder
{
    public static string Decode(long seconds, long nanoseconds) => $"{{tv_sec={seconds}, tv_nsec={nanoseconds}}}";

    public static SyscallArgument At(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        var bytes = memory.ReadExactly(address, 16);
        if (bytes is null)
            return new SyscallArgument(address, StringDecoder.Hex(address));
        return new SyscallArgument(address, Decode(BitConverter.ToInt64(bytes, 0), BitConverter.ToInt64(bytes, 8)));
    }
}
