using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Husk.Tracing;

/// <summary>
/// struct stat and struct statx as strace abbreviates them: the type and mode, the size (the
/// device for device files), then "...". The layouts of x86_64 and aarch64 differ.
/// </summary>
internal static class StatDecoder
{
    private static readonly bool Arm64 = RuntimeInformation.ProcessArchitecture == Architecture.Arm64;

    /// <summary>Bytes of struct stat on this architecture.</summary>
    public static int StatSize => Arm64 ? 128 : 144;

    private const int StatxSize = 256;

    private static readonly FlagTable StatxMask = new("0",
        (0x7ff, "STATX_BASIC_STATS"), (0x800, "STATX_BTIME"), (0x1000, "STATX_MNT_ID"), (0x2000, "STATX_DIOALIGN"),
        (0x4000, "STATX_MNT_ID_UNIQUE"), (0x8000, "STATX_SUBVOL"), (0x10000, "STATX_WRITE_ATOMIC"),
        (0x20000, "STATX_DIO_READ_ALIGN"),
        (0x1, "STATX_TYPE"), (0x2, "STATX_MODE"), (0x4, "STATX_NLINK"), (0x8, "STATX_UID"), (0x10, "STATX_GID"),
        (0x20, "STATX_ATIME"), (0x40, "STATX_MTIME"), (0x80, "STATX_CTIME"), (0x100, "STATX_INO"),
        (0x200, "STATX_SIZE"), (0x400, "STATX_BLOCKS"));

    /// <summary>A struct stat of this architecture.</summary>
    public static string Stat(ReadOnlySpan<byte> s, bool arm64)
    {
        uint mode = BinaryPrimitives.ReadUInt32LittleEndian(s[(arm64 ? 16 : 24)..]);
        ulong rdev = BinaryPrimitives.ReadUInt64LittleEndian(s[(arm64 ? 32 : 40)..]);
        long size = BinaryPrimitives.ReadInt64LittleEndian(s[48..]);
        return "{st_mode=" + ModeDecoder.WithType(mode) + SizeOrDevice(mode, size, rdev) + ", ...}";
    }

    /// <summary>A struct statx.</summary>
    public static string Statx(ReadOnlySpan<byte> s)
    {
        uint mask = BinaryPrimitives.ReadUInt32LittleEndian(s);
        ulong attributes = BinaryPrimitives.ReadUInt64LittleEndian(s[8..]);
        uint mode = BinaryPrimitives.ReadUInt16LittleEndian(s[28..]);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(s[40..]);
        uint rdevMajor = BinaryPrimitives.ReadUInt32LittleEndian(s[128..]);
        uint rdevMinor = BinaryPrimitives.ReadUInt32LittleEndian(s[132..]);
        string device = (mode & 0xF000) is 0x2000 or 0x6000 ? $", stx_rdev_major={rdevMajor}, stx_rdev_minor={rdevMinor}" : "";
        return "{stx_mask=" + StatxMask.Decode(mask) + ", stx_attributes=" + (attributes == 0 ? "0" : StringDecoder.Hex(attributes))
            + ", stx_mode=" + ModeDecoder.WithType(mode) + (device.Length > 0 ? device : ", stx_size=" + size.ToString(CultureInfo.InvariantCulture)) + ", ...}";
    }

    private static string SizeOrDevice(uint mode, long size, ulong rdev)
    {
        if ((mode & 0xF000) is not (0x2000 or 0x6000))
            return ", st_size=" + size.ToString(CultureInfo.InvariantCulture);
        // The kernel's new_encode_dev: major in bits 8-19 and 32-43, minor in 0-7 and 20-31.
        ulong major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfffUL);
        ulong minor = (rdev & 0xff) | ((rdev >> 12) & ~0xffUL);
        return $", st_rdev=makedev(0x{major:x}, 0x{minor:x})";
    }

    /// <summary>A stat buffer after the call: decoded, or its address when the call failed or it is unreadable.</summary>
    public static SyscallArgument StatAt(ITraceeMemory memory, ulong address, bool failed)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        if (failed || memory.ReadExactly(address, StatSize) is not { } bytes)
            return new SyscallArgument(address, StringDecoder.Hex(address));
        return new SyscallArgument(address, Stat(bytes, Arm64));
    }

    /// <summary>A statx buffer after the call.</summary>
    public static SyscallArgument StatxAt(ITraceeMemory memory, ulong address, bool failed)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        if (failed || memory.ReadExactly(address, StatxSize) is not { } bytes)
            return new SyscallArgument(address, StringDecoder.Hex(address));
        return new SyscallArgument(address, Statx(bytes));
    }
}
