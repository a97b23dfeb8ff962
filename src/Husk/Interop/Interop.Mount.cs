using System.Runtime.InteropServices;
using System.Text;

namespace Husk.Interop;

/// <summary>The new mount API, as the supervisor uses it (the child's mounts are the C stage's).</summary>
internal static partial class Interop
{
    private const long SysOpenTree = 428;
    private const long SysMountSetattr = 442;

    private const uint OPEN_TREE_CLONE = 1;
    private const uint OPEN_TREE_CLOEXEC = 0x80000;
    private const uint AT_RECURSIVE = 0x8000;
    private const ulong MOUNT_ATTR_IDMAP = 0x100000;

    [StructLayout(LayoutKind.Sequential)]
    private struct MountAttr
    {
        public ulong AttrSet;
        public ulong AttrClear;
        public ulong Propagation;
        public ulong UserNamespaceFd;
    }

    /// <summary>
    /// open_tree(OPEN_TREE_CLONE): a detached copy of the mount at <paramref name="path"/>, with the
    /// mounts below it when <paramref name="recursive"/>. Returns the errno, or 0.
    /// </summary>
    internal static unsafe int OpenTreeClone(string path, bool recursive, out SafeFd? tree)
    {
        tree = null;
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = name)
        {
            long fd = Syscall3(SysOpenTree, AT_FDCWD, (long)p, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
            if (fd < 0)
                return Marshal.GetLastPInvokeError();
            tree = new SafeFd((int)fd);
            return 0;
        }
    }

    /// <summary>
    /// mount_setattr(MOUNT_ATTR_IDMAP): the detached mount shows ids as the user namespace
    /// <paramref name="userNamespace"/> maps them (its top mount only). Returns the errno, or 0.
    /// </summary>
    internal static unsafe int SetIdmap(SafeFd tree, SafeFd userNamespace)
    {
        var attr = new MountAttr { AttrSet = MOUNT_ATTR_IDMAP, UserNamespaceFd = (ulong)userNamespace.Fd };
        byte empty = 0;
        long r = Syscall5(SysMountSetattr, tree.Fd, (long)&empty, AT_EMPTY_PATH, (long)&attr, sizeof(MountAttr));
        return r < 0 ? Marshal.GetLastPInvokeError() : 0;
    }
}
