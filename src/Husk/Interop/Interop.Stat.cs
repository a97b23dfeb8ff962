using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>statx: one layout on every architecture.</summary>
internal static partial class Interop
{
    internal const uint STATX_BASIC_STATS = 0x7ff;
    internal const uint S_IFMT = 0xF000;
    internal const uint S_IFDIR = 0x4000;
    internal const uint S_IFREG = 0x8000;
    internal const uint S_IFLNK = 0xA000;
    internal const uint S_IFCHR = 0x2000;
    internal const uint S_IFBLK = 0x6000;
    internal const uint S_IFIFO = 0x1000;
    internal const uint S_IFSOCK = 0xC000;

    [StructLayout(LayoutKind.Sequential, Size = 256)]
    internal struct Statx
    {
        public uint Mask;
        public uint BlkSize;
        public ulong Attributes;
        public uint NLink;
        public uint Uid;
        public uint Gid;
        public ushort Mode;
        private ushort _pad1;
        public ulong Ino;
        public ulong Size;
        public ulong Blocks;
        public ulong AttributesMask;
        public long AtimeSec;
        public uint AtimeNsec;
        private int _pad2;
        public long BtimeSec;
        public uint BtimeNsec;
        private int _pad3;
        public long CtimeSec;
        public uint CtimeNsec;
        private int _pad4;
        public long MtimeSec;
        public uint MtimeNsec;
        private int _pad5;
        public uint RdevMajor;
        public uint RdevMinor;
        public uint DevMajor;
        public uint DevMinor;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int StatxRaw(int dirfd, string path, int flags, uint mask, out Statx buf);

    /// <summary>Returns 0 and the result, or the errno.</summary>
    internal static int TryStat(string path, out Statx st, bool followSymlinks = true)
    {
        int r = StatxRaw(AT_FDCWD, path, followSymlinks ? 0 : AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, out st);
        return r == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    internal const uint STATX_BTIME = 0x800;

    /// <summary>When the kernel says the file was made (statx's birth time), or null where the filesystem does not keep it.</summary>
    internal static DateTimeOffset? BirthTime(string path)
    {
        if (StatxRaw(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, out Statx st) != 0 || (st.Mask & STATX_BTIME) == 0)
            return null;
        return DateTimeOffset.FromUnixTimeSeconds(st.BtimeSec).AddTicks(st.BtimeNsec / 100);
    }

    internal static int TryFstat(int fd, out Statx st)
    {
        int r = StatxRaw(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, out st);
        return r == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    internal static ulong NamespaceInode(string kind, int pid = 0)
    {
        string path = pid == 0 ? $"/proc/self/ns/{kind}" : $"/proc/{pid}/ns/{kind}";
        return TryStat(path, out Statx st) == 0 ? st.Ino : 0;
    }
}
