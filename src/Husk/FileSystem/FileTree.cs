using System.Runtime.InteropServices;
using static Husk.Interop.Interop;

namespace Husk.FileSystem;

/// <summary>
/// Deletes directory trees without ever following a link: each entry is examined and removed
/// relative to an open descriptor of its own directory, and a directory is opened with
/// O_NOFOLLOW. A symlink in the tree (a Python venv's <c>lib64 -> lib</c>, a link to /etc) is
/// unlinked as a link, whatever order the entries come in, and nothing outside the tree is read,
/// changed or deleted. The one way every tree is deleted: sandbox roots, layers being replaced,
/// host directories a commit deletes recursively.
/// </summary>
internal static class FileTree
{
    private const int Rwx = 0x1C0; // the owner's rwx

    /// <summary>
    /// Deletes <paramref name="path"/> and everything beneath it. A file or symlink there is
    /// unlinked (never what it points to); nothing there is nothing to do. The path's own parent
    /// directories are the caller's to trust.
    /// </summary>
    /// <param name="path">The tree (or file, or link) to delete.</param>
    /// <param name="openUp">
    /// Give the owner read, write and search permission first on directories that lack it (overlayfs
    /// leaves its work/work mode 000; a build leaves directories read-only): for trees of Husk's own,
    /// never for the host's.
    /// </param>
    /// <exception cref="SyscallException">An entry could not be deleted; the message names it.</exception>
    public static void Delete(string path, bool openUp = true)
    {
        int e = TryStat(path, out var st, followSymlinks: false);
        if (e == (int)Errno.ENOENT)
            return;
        if (e != 0)
            throw new SyscallException("statx", path, (Errno)e);
        if ((st.Mode & S_IFMT) != S_IFDIR)
        {
            Unlink(AT_FDCWD, path, 0, path);
            return;
        }
        using (var dir = OpenDirectory(AT_FDCWD, path, path, openUp))
            DeleteContents(dir.Fd, path, openUp);
        Unlink(AT_FDCWD, path, AT_REMOVEDIR, path);
    }

    /// <summary>
    /// Empties the open directory <paramref name="dir"/> (a descriptor that can list it), never
    /// leaving it; <paramref name="shown"/> is its path for messages.
    /// </summary>
    public static void DeleteContents(int dir, string shown, bool openUp)
    {
        // Listed through the descriptor, so a directory renamed or swapped meanwhile is not re-walked by path.
        var names = Directory.EnumerateFileSystemEntries($"/proc/self/fd/{dir}").Select(Path.GetFileName).ToList();
        foreach (string? name in names)
        {
            if (string.IsNullOrEmpty(name))
                continue;
            string entry = Path.Join(shown, name);
            int e = TryStatAt(dir, name, out var st);
            if (e == (int)Errno.ENOENT)
                continue;
            if (e != 0)
                throw new SyscallException("statx", entry, (Errno)e);
            if ((st.Mode & S_IFMT) == S_IFDIR)
            {
                using (var sub = OpenDirectory(dir, name, entry, openUp))
                    DeleteContents(sub.Fd, entry, openUp);
                Unlink(dir, name, AT_REMOVEDIR, entry);
            }
            else
            {
                Unlink(dir, name, 0, entry);
            }
        }
    }

    /// <summary>Opens a directory (never a symlink to one) for listing and for deleting in it.</summary>
    private static Interop.SafeFd OpenDirectory(int parent, string name, string shown, bool openUp)
    {
        int fd = Openat(parent, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0)
            throw SyscallException.FromLastError("open", shown);
        using var path = new Interop.SafeFd(fd);
        if (openUp && TryFstat(path.Fd, out var st) == 0 && (st.Mode & Rwx) != Rwx && st.Uid == GetUid())
        {
            // Through the descriptor: the mode changes on exactly the directory opened.
            if (Fchmodat(AT_FDCWD, $"/proc/self/fd/{path.Fd}", (st.Mode & 0xFFF) | Rwx, 0) != 0)
                throw SyscallException.FromLastError("chmod", shown);
        }
        int full = Openat(path.Fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (full < 0)
            throw SyscallException.FromLastError("open", shown);
        return new Interop.SafeFd(full);
    }

    private static void Unlink(int dir, string name, int flags, string shown)
    {
        if (Unlinkat(dir, name, flags) != 0 && Marshal.GetLastPInvokeError() != (int)Errno.ENOENT)
            throw SyscallException.FromLastError(flags == AT_REMOVEDIR ? "rmdir" : "unlink", shown);
    }
}
