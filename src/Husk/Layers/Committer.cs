using Husk.FileSystem;
using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Layers;

/// <summary>What committing did with each change.</summary>
public sealed class CommitReport
{
    /// <summary>Changes applied to the host.</summary>
    public List<Change> Applied { get; } = [];
    /// <summary>Changes left alone because the host changed them meanwhile (pass force to apply).</summary>
    public List<Change> Conflicts { get; } = [];
    /// <summary>Changes that could not be applied, and why.</summary>
    public List<(Change Change, string Reason)> Failed { get; } = [];
    /// <summary>Remarks about how a change was applied (an in-place write instead of a rename, what could not be kept).</summary>
    public List<string> Notes { get; } = [];

    /// <summary>Nothing failed and nothing was left for a conflict.</summary>
    public bool Complete => Failed.Count == 0 && Conflicts.Count == 0;
}

/// <summary>
/// Applies changes of a sandbox layer to the host, as the caller, outside every namespace. Each
/// host path is opened relative to the target root with openat2 (RESOLVE_BENEATH,
/// RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS), so nothing in the layer or the host (a symlink, a
/// swapped directory, odd names) can make it write outside the target tree. A file is written to
/// a temporary file in its directory, synced and renamed over the target, so a commit never
/// half-applies a file; where a rename cannot work (a bind-mounted target, a file with other hard
/// links, a directory we may not write) it is written in place and the report says so.
/// Deletions come last; a directory that is not empty is deleted only with <c>recursive</c>.
/// Device nodes are never committed; FIFOs and sockets only when asked (try moves them): a FIFO
/// is made anew and a socket is bound anew (nothing listens on it, as on the layer's).
/// </summary>
public static partial class Committer
{
    private const ulong Beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

    /// <param name="changes">The changes to apply (a subset of a <see cref="ChangeSet"/> scan).</param>
    /// <param name="targetRoot">The tree they apply to: the host's / normally.</param>
    /// <param name="force">Apply conflicting changes too.</param>
    /// <param name="recursive">Delete (or replace) directories that are not empty.</param>
    /// <param name="specials">Recreate FIFOs and sockets instead of refusing them (devices are always refused).</param>
    public static CommitReport Apply(IReadOnlyList<Change> changes, string targetRoot = "/", bool force = false, bool recursive = false, bool specials = false)
    {
        var report = new CommitReport();
        using var root = Open(targetRoot, O_PATH | O_DIRECTORY);
        var ordered = changes.Where(c => c.Kind != ChangeKind.Deleted).OrderBy(c => c.Path, StringComparer.Ordinal)
            .Concat(changes.Where(c => c.Kind == ChangeKind.Deleted).OrderByDescending(c => c.Path, StringComparer.Ordinal));
        foreach (var change in ordered)
        {
            if (change.Conflict && !force)
            {
                report.Conflicts.Add(change);
                continue;
            }
            try
            {
                string? note = ApplyOne(root.Fd, change, recursive, specials);
                report.Applied.Add(change);
                if (note is not null)
                    report.Notes.Add($"{change.Path}: {note}");
            }
            catch (CommitException e)
            {
                report.Failed.Add((change, e.Message));
            }
        }
        return report;
    }

    private sealed class CommitException(string message) : Exception(message);

    private static CommitException Fail(string what, int errno) => new($"{what}: {SyscallException.Describe((Errno)errno)}");

    /// <summary>Splits "/a/b/c" into "a/b" and "c".</summary>
    private static (string Parent, string Name) Split(string path)
    {
        string rel = path.TrimStart('/');
        int slash = rel.LastIndexOf('/');
        return slash < 0 ? ("", rel) : (rel[..slash], rel[(slash + 1)..]);
    }

    /// <summary>Opens (creating what is missing) the directory <paramref name="rel"/> beneath the root.</summary>
    private static SafeFd OpenDirectory(int root, string rel, bool create)
    {
        if (rel.Length == 0)
        {
            int self = Openat2(root, ".", O_PATH | O_DIRECTORY, 0, Beneath);
            if (self < 0)
                throw Fail("cannot open the target root", -self);
            return new SafeFd(self);
        }
        int fd = Openat2(root, rel, O_PATH | O_DIRECTORY, 0, Beneath);
        if (fd >= 0)
            return new SafeFd(fd);
        if (-fd == (int)Errno.ELOOP || -fd == (int)Errno.EXDEV)
            throw new CommitException($"refusing to follow a symlink on the way to /{rel}");
        if (-fd != (int)Errno.ENOENT || !create)
            throw Fail($"cannot open /{rel}", -fd);
        var (parent, name) = Split("/" + rel);
        using var p = OpenDirectory(root, parent, create);
        using (var dir = OpenFull(p.Fd))
        {
            if (Mkdirat(dir.Fd, name, 0x1ED) != 0 && Marshal.GetLastPInvokeError() != (int)Errno.EEXIST)
                throw Fail($"cannot create /{rel}", Marshal.GetLastPInvokeError());
        }
        fd = Openat2(root, rel, O_PATH | O_DIRECTORY, 0, Beneath);
        if (fd < 0)
            throw Fail($"cannot open /{rel}", -fd);
        return new SafeFd(fd);
    }

    /// <summary>An O_PATH directory fd re-opened for real operations (mkdirat and friends accept O_PATH, but fsync does not).</summary>
    private static SafeFd OpenFull(int pathFd)
    {
        int fd = Openat2(pathFd, ".", O_RDONLY | O_DIRECTORY, 0, Beneath);
        if (fd < 0)
            throw Fail("cannot open a directory", -fd);
        return new SafeFd(fd);
    }

    private static string? ApplyOne(int root, Change c, bool recursive, bool specials)
    {
        var (parentRel, name) = Split(c.Path);
        using var parentPath = OpenDirectory(root, parentRel, create: c.Kind != ChangeKind.Deleted);
        using var parent = OpenFull(parentPath.Fd);
        int dir = parent.Fd;

        if (c.Kind == ChangeKind.Deleted)
            return Delete(dir, c, name, recursive);
        uint specialType = c.Node == NodeKind.Special && c.LayerPath is not null && TryStat(c.LayerPath, out var layerSt, followSymlinks: false) == 0
            ? layerSt.Mode & S_IFMT : 0;
        if (c.Node == NodeKind.Special && !(specials && specialType is S_IFIFO or S_IFSOCK))
            throw new CommitException(specials ? "device nodes are not committed" : "device nodes, sockets and FIFOs are not committed");
        if (c.Kind == ChangeKind.MetadataOnly)
        {
            SetMetadata(dir, name, c);
            return null;
        }
        if (c.Kind is ChangeKind.TypeChanged or ChangeKind.Replaced)
        {
            // What was there goes first; a directory with contents only when asked.
            var gone = c with { Kind = ChangeKind.Deleted, Node = NodeKind.None };
            Delete(dir, gone, name, recursive);
        }
        switch (c.Node)
        {
            case NodeKind.Directory:
                if (Mkdirat(dir, name, c.Mode & 0xFFF) != 0)
                {
                    int e = Marshal.GetLastPInvokeError();
                    if (e != (int)Errno.EEXIST)
                        throw Fail("cannot create the directory", e);
                }
                SetMetadata(dir, name, c);
                return null;
            case NodeKind.Symlink:
                return ReplaceWithSymlink(dir, name, c.LinkTarget!, c.LayerPath);
            case NodeKind.File:
                return WriteFile(dir, name, c);
            case NodeKind.Special:
                MakeSpecial(dir, name, c, specialType);
                return null;
            default:
                throw new CommitException("unknown kind of change");
        }
    }

    private static string? ReplaceWithSymlink(int dir, string name, string target, string? layerPath)
    {
        string tmp = TempName(name);
        if (Symlinkat(target, dir, tmp) != 0)
            throw Fail("cannot create the symlink", Marshal.GetLastPInvokeError());
        try
        {
            KeepOwner(dir, tmp, AT_SYMLINK_NOFOLLOW, layerPath);
        }
        catch
        {
            Unlinkat(dir, tmp, 0);
            throw;
        }
        if (Renameat2(dir, tmp, dir, name, 0) != 0)
        {
            int e = Marshal.GetLastPInvokeError();
            Unlinkat(dir, tmp, 0);
            throw Fail("cannot put the symlink in place", e);
        }
        return null;
    }

    /// <summary>A FIFO or a socket in place of whatever non-directory is there.</summary>
    private static void MakeSpecial(int dir, string name, Change c, uint type)
    {
        if (TryStatAt(dir, name, out var existing) == 0)
        {
            if ((existing.Mode & S_IFMT) == S_IFDIR)
                throw new CommitException("a directory is in the way");
            if (Unlinkat(dir, name, 0) != 0)
                throw Fail("cannot remove what is there", Marshal.GetLastPInvokeError());
        }
        if (type == S_IFIFO)
        {
            if (Mknodat(dir, name, (int)S_IFIFO | (c.Mode & 0xFFF), 0) != 0)
                throw Fail("cannot create the FIFO", Marshal.GetLastPInvokeError());
        }
        else
        {
            // bind() takes a path: reach the directory through its descriptor, never by name.
            int e = MakeUnixSocketFile($"/proc/self/fd/{dir}/{name}");
            if (e != 0)
                throw Fail("cannot create the socket", e);
        }
        SetMetadata(dir, name, c);
    }

    private static string TempName(string name) => $".{(name.Length > 40 ? name[..40] : name)}.husk-{Random.Shared.Next():x8}";

    private static unsafe string? WriteFile(int dir, string name, Change c)
    {
        using var source = Open(c.LayerPath!, O_RDONLY | O_NOFOLLOW);
        // Where the target stays and only its content may change, write in place.
        string? reason = null;
        if (TryStatAt(dir, name, out var existing) == 0 && (existing.Mode & S_IFMT) == S_IFREG && existing.NLink > 1)
            reason = "written in place: it has other hard links, which a rename would split off";
        if (reason is null)
        {
            string tmp = TempName(name);
            int fd = Openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x180);
            if (fd >= 0)
            {
                using (var target = new SafeFd(fd))
                {
                    try
                    {
                        CopyAndFinish(source.Fd, target.Fd, c);
                    }
                    catch
                    {
                        Unlinkat(dir, tmp, 0);
                        throw;
                    }
                }
                if (Renameat2(dir, tmp, dir, name, 0) == 0)
                    return null;
                int e = Marshal.GetLastPInvokeError();
                Unlinkat(dir, tmp, 0);
                if (e is not ((int)Errno.EBUSY or (int)Errno.EXDEV or (int)Errno.EACCES or (int)Errno.EPERM))
                    throw Fail("cannot put the file in place", e);
                reason = e == (int)Errno.EBUSY ? "written in place: the target is a mount point" : $"written in place: rename refused ({SyscallException.Describe((Errno)e)})";
            }
            else
            {
                int e = Marshal.GetLastPInvokeError();
                if (e is not ((int)Errno.EACCES or (int)Errno.EPERM or (int)Errno.EROFS))
                    throw Fail("cannot create a temporary file beside it", e);
                reason = "written in place: its directory is not writable";
            }
        }
        // In place: the file must already exist; never follow a symlink put there.
        int inPlace = Openat2(dir, name, O_WRONLY | O_TRUNC | O_NOFOLLOW, 0, Beneath);
        if (inPlace < 0)
            throw Fail("cannot write the file", -inPlace);
        using (var target = new SafeFd(inPlace))
        {
            Lseek(source.Fd, 0, 0);
            CopyAndFinish(source.Fd, target.Fd, c);
        }
        return reason;
    }

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long Lseek(int fd, long offset, int whence);

    private static unsafe void CopyAndFinish(int from, int to, Change c)
    {
        byte[] buffer = new byte[1 << 16];
        fixed (byte* p = buffer)
        {
            while (true)
            {
                nint n = Read(from, p, (nuint)buffer.Length);
                if (n < 0)
                    throw Fail("cannot read the layer's file", Marshal.GetLastPInvokeError());
                if (n == 0)
                    break;
                try
                {
                    WriteAll(to, new ReadOnlySpan<byte>(p, (int)n));
                }
                catch (SyscallException e)
                {
                    throw Fail("cannot write the file", (int)e.Errno);
                }
            }
        }
        // Owner (root's commits), mode (after: chown clears setuid), user xattrs (never overlayfs's own) and times.
        KeepOwner(to, "", AT_EMPTY_PATH, c.LayerPath);
        Fchmod(to, c.Mode & 0xFFF);
        foreach (string x in ListXattrs(c.LayerPath!))
        {
            if (x.StartsWith("user.", StringComparison.Ordinal) && !ChangeSet.IsOverlayInternal(x) && GetXattr(c.LayerPath!, x) is { } v)
                SetXattr(to, x, v);
        }
        if (TryFstat(from, out var st) == 0)
            SetTimes(to, st);
        if (Fsync(to) != 0)
            throw Fail("cannot sync the file", Marshal.GetLastPInvokeError());
    }

    private static unsafe void SetMetadata(int dir, string name, Change c)
    {
        // Through an O_PATH descriptor of exactly this entry (never a symlink's target).
        int fd = Openat2(dir, name, O_PATH | O_NOFOLLOW, 0, Beneath);
        if (fd < 0)
            throw Fail("cannot open it", -fd);
        using var entry = new SafeFd(fd);
        if (TryFstat(entry.Fd, out var current) != 0 || (current.Mode & S_IFMT) == S_IFLNK)
            return;
        string self = $"/proc/self/fd/{entry.Fd}";
        KeepOwner(entry.Fd, "", AT_EMPTY_PATH, c.LayerPath);
        if (Fchmodat(AT_FDCWD, self, c.Mode & 0xFFF, 0) != 0)
            throw Fail("cannot change the mode", Marshal.GetLastPInvokeError());
        if (c.LayerPath is not null && TryStat(c.LayerPath, out var st, followSymlinks: false) == 0)
            SetTimes(self, st);
    }

    /// <summary>
    /// Root's layers hold the host's own ids (they are written through idmapped mounts, see
    /// Launch.IdmappedLayers), so a root commit gives each entry the layer's owner: a file of
    /// root's stays root's, one of a user's stays theirs. Others cannot give files away: theirs
    /// stay the caller's.
    /// </summary>
    private static void KeepOwner(int dir, string name, int flags, string? layerPath)
    {
        if (GetEuid() != 0 || layerPath is null || TryStat(layerPath, out var st, followSymlinks: false) != 0)
            return;
        if (Fchownat(dir, name, st.Uid, st.Gid, flags) != 0)
            throw Fail("cannot give it the layer's owner", Marshal.GetLastPInvokeError());
    }

    private static string? Delete(int dir, Change c, string name, bool recursive)
    {
        if (TryStatAt(dir, name, out var st) != 0)
            return "already gone on the host";
        if ((st.Mode & S_IFMT) != S_IFDIR)
        {
            if (Unlinkat(dir, name, 0) != 0)
                throw Fail("cannot delete", Marshal.GetLastPInvokeError());
            return null;
        }
        if (Unlinkat(dir, name, AT_REMOVEDIR) == 0)
            return null;
        int e = Marshal.GetLastPInvokeError();
        if (e != (int)Errno.ENOTEMPTY && e != (int)Errno.EEXIST)
            throw Fail("cannot delete the directory", e);
        if (!recursive)
            throw new CommitException("the directory is not empty: deleting it recursively needs confirmation (--recursive)");
        int sub = Openat2(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, Beneath);
        if (sub < 0)
            throw Fail("cannot open the directory", -sub);
        using (var subFd = new SafeFd(sub))
        {
            try
            {
                // The host's tree: deleted as the caller may, never opened up.
                FileTree.DeleteContents(subFd.Fd, c.Path, openUp: false);
            }
            catch (SyscallException x)
            {
                throw new CommitException($"cannot delete {x.Subject}: {SyscallException.Describe(x.Errno)}");
            }
        }
        if (Unlinkat(dir, name, AT_REMOVEDIR) != 0)
            throw Fail("cannot delete the directory", Marshal.GetLastPInvokeError());
        return "deleted recursively";
    }
}
