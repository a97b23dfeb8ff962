using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.FileSystem;

/// <summary>
/// Moves an overlay upper layer kept in a size-capped tmpfs (<c>husk run --storage</c>) into the
/// sandbox root on disk, where review, commit and later sessions find it: files with their
/// content, mode, times and user xattrs, symlinks, directories (opaque ones keep their marker),
/// and whiteouts as the 0:0 character devices overlayfs makes.
/// </summary>
/// <remarks>
/// The source belongs to a sandbox that has ended: nothing writes to it any more, so it is
/// walked by path without racing anyone. The target is the root's own upper directory, which
/// only Husk writes to. Hard links within the layer arrive as separate files. As root, owners
/// are kept; an unprivileged caller owns everything anyway (only its id is mapped).
/// </remarks>
public static class LayerMerge
{
    /// <summary>What a merge did.</summary>
    public readonly record struct Summary(int Entries, long Bytes, IReadOnlyList<string> Skipped);

    /// <summary>Copies the tree under <paramref name="source"/> into <paramref name="target"/>, entry by entry.</summary>
    /// <exception cref="IOException">An entry could not be written; the message names it.</exception>
    public static Summary Merge(string source, string target)
    {
        var skipped = new List<string>();
        int entries = 0;
        long bytes = 0;
        bool root = GetUid() == 0;
        Directory.CreateDirectory(target);
        Walk(source, target);
        return new Summary(entries, bytes, skipped);

        void Walk(string fromDir, string toDir)
        {
            foreach (string from in Directory.EnumerateFileSystemEntries(fromDir, "*", new EnumerationOptions { AttributesToSkip = 0, IgnoreInaccessible = false }))
            {
                string name = Path.GetFileName(from);
                string to = Path.Join(toDir, name);
                if (TryStat(from, out var st, followSymlinks: false) != 0)
                    throw new IOException($"cannot read {from}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                uint type = st.Mode & S_IFMT;
                bool hasTarget = TryStat(to, out var existing, followSymlinks: false) == 0;
                if (hasTarget && !(type == S_IFDIR && (existing.Mode & S_IFMT) == S_IFDIR && GetXattr(from, "user.overlay.opaque") is null))
                {
                    Remove(to);
                    hasTarget = false;
                }
                entries++;
                switch (type)
                {
                    case S_IFDIR:
                        if (!hasTarget && Mkdirat(AT_FDCWD, to, 0x1C0) != 0)
                            throw Failed(to, "create the directory");
                        Walk(from, to);
                        break;
                    case S_IFREG:
                        File.Copy(from, to);
                        bytes += (long)st.Size;
                        break;
                    case S_IFLNK:
                        if (Symlinkat(Readlinkat(AT_FDCWD, from) ?? throw Failed(from, "read the symlink"), AT_FDCWD, to) != 0)
                            throw Failed(to, "create the symlink");
                        break;
                    case S_IFCHR when st.RdevMajor == 0 && st.RdevMinor == 0:
                        // A whiteout: since Linux 5.8 anyone may make one.
                        if (Mknodat(AT_FDCWD, to, (int)S_IFCHR, 0) != 0)
                            throw Failed(to, "create the whiteout");
                        break;
                    case S_IFIFO:
                        if (Mknodat(AT_FDCWD, to, (int)S_IFIFO | (st.Mode & 0xFFF), 0) != 0)
                            throw Failed(to, "create the FIFO");
                        break;
                    default:
                        // Device nodes and sockets: the commit refuses them anyway.
                        skipped.Add(from[source.Length..]);
                        entries--;
                        continue;
                }
                Finish(from, to, st, type);
            }
        }

        void Finish(string from, string to, Statx st, uint type)
        {
            if (type != S_IFLNK)
            {
                Fchmodat(AT_FDCWD, to, st.Mode & 0xFFF, 0);
                CopyUserXattrs(from, to);
            }
            if (root)
                Lchown(to, st.Uid, st.Gid);
            SetTimes(to, st, AT_SYMLINK_NOFOLLOW);
        }
    }

    /// <summary>User xattrs but overlayfs's own, except the opaque marker, which the layer needs.</summary>
    private static void CopyUserXattrs(string from, string to)
    {
        string[] names = [.. ListXattrs(from).Where(x => x.StartsWith("user.", StringComparison.Ordinal) && (!ChangeSet.IsOverlayInternal(x) || x == "user.overlay.opaque"))];
        if (names.Length == 0)
            return;
        // fsetxattr needs a real descriptor; read-only (non-blocking for a FIFO) suits every type here.
        int fd = Openat(AT_FDCWD, to, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0);
        if (fd < 0)
            return;
        using var f = new SafeFd(fd);
        foreach (string x in names)
        {
            if (GetXattr(from, x) is { } value)
                SetXattr(f.Fd, x, value);
        }
    }

    /// <summary>Removes what is in the way of an entry (a whole tree for a directory, never following links).</summary>
    private static void Remove(string path)
    {
        try
        {
            FileTree.Delete(path);
        }
        catch (SyscallException e)
        {
            throw new IOException($"cannot replace {path}: {e.Message}");
        }
    }

    private static IOException Failed(string path, string what) =>
        new($"cannot {what} {path}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
}
