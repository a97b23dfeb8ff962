using System.Formats.Tar;
using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Images;

/// <summary>What unpacking a layer found worth telling.</summary>
internal sealed record LayerStats
{
    /// <summary>Entries read from the tar.</summary>
    public int Entries { get; init; }
    /// <summary>Bytes of file content written.</summary>
    public long Bytes { get; init; }
    /// <summary>Entries owned by another user or group than root, whose owner an unprivileged cache cannot keep.</summary>
    public int OtherOwners { get; init; }
    /// <summary>Device nodes, never made (a device node in a cache on the host would be a way into the host's devices).</summary>
    public int DevicesSkipped { get; init; }
    /// <summary>Files whose setuid or setgid bit was dropped.</summary>
    public int SetuidStripped { get; init; }
}

/// <summary>
/// Applies one layer's tar stream to an empty directory, the layer's own tree, in the form
/// overlayfs takes as a lower layer: <c>.wh.NAME</c> becomes a whiteout (a 0:0 character device),
/// <c>.wh..wh..opq</c> marks its directory opaque (<c>user.overlay.opaque</c>, as overlayfs reads it
/// with userxattr, which Husk's sandboxes always mount with). System.Formats.Tar's own extraction
/// cannot be used: it writes whiteouts as files and follows symlinks out of the target.
/// <para>
/// Nothing is written outside the directory: every path is opened from the layer's root with
/// openat2 (RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS) and each entry is created
/// with its final component never followed. An entry naming <c>..</c>, going through a symlink or
/// linking to a file the layer does not hold is an error naming it; an absolute name is taken as
/// relative to the layer (as tar does). Device nodes are skipped, setuid and setgid bits dropped;
/// only a root caller keeps owners (an unprivileged one cannot chown: the files are the caller's).
/// Directories are made writable for the caller while filling and get their modes last.
/// </para>
/// </summary>
internal sealed class LayerApplier : IDisposable
{
    private const ulong Beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    internal const string OpaqueXattr = "user.overlay.opaque";
    private const int S_ISUID = 0x800, S_ISGID = 0x400;

    private readonly SafeFd _root;
    private readonly string _reference;
    private readonly string _layer;
    private readonly bool _keepOwners;
    private readonly Dictionary<string, SafeFd> _dirs = new(StringComparer.Ordinal);
    private readonly byte[] _buffer = new byte[1 << 17];
    private readonly Dictionary<string, (int Mode, int Uid, int Gid, DateTimeOffset Time)> _dirMeta = new(StringComparer.Ordinal);
    private int _entries, _otherOwners, _devices, _setuid;
    private long _bytes;

    private LayerApplier(SafeFd root, string reference, string layer, bool keepOwners)
    {
        _root = root;
        _reference = reference;
        _layer = layer;
        _keepOwners = keepOwners;
    }

    /// <summary>Unpacks <paramref name="tar"/> into <paramref name="directory"/> (existing, empty).</summary>
    /// <param name="tar">The layer's uncompressed tar stream.</param>
    /// <param name="directory">The layer's tree.</param>
    /// <param name="reference">The image, for messages.</param>
    /// <param name="layer">How messages name the layer.</param>
    /// <param name="keepOwners">Give entries their owners from the tar (root only).</param>
    public static LayerStats Apply(Stream tar, string directory, string reference, string layer, bool keepOwners)
    {
        int fd = Openat2(AT_FDCWD, directory, O_PATH | O_DIRECTORY, 0, 0);
        if (fd < 0)
            throw new SyscallException("openat2", directory, (Errno)(-fd));
        using var applier = new LayerApplier(new SafeFd(fd), reference, layer, keepOwners);
        try
        {
            using var reader = new TarReader(tar, leaveOpen: true);
            while (reader.GetNextEntry(copyData: false) is { } entry)
                applier.ApplyEntry(entry);
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException)
        {
            throw applier.Fail(null, $"not a valid tar stream ({ErrorText.Reason(e)})");
        }
        applier.FinishDirectories();
        return new LayerStats
        {
            Entries = applier._entries,
            Bytes = applier._bytes,
            OtherOwners = applier._otherOwners,
            DevicesSkipped = applier._devices,
            SetuidStripped = applier._setuid,
        };
    }

    private ImageException Fail(string? entry, string problem) =>
        new(_reference, entry is null ? $"{_layer}: {problem}" : $"{_layer}: entry {entry}: {problem}");

    /// <summary>"./a//b/" as "a/b"; a name with a ".." component is refused.</summary>
    private string Clean(string name)
    {
        string clean = ImageFiles.Normalize(name);
        if (clean.Split('/').Contains(".."))
            throw Fail(name, "leaves the layer ('..')");
        return clean;
    }

    private static (string Parent, string Name) Split(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash < 0 ? ("", path) : (path[..slash], path[(slash + 1)..]);
    }

    private void ApplyEntry(TarEntry entry)
    {
        _entries++;
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
            return;
        string path = Clean(entry.Name);
        if (path.Length == 0)
        {
            // The layer's root itself ("./"): the root directory of the merged tree is the lowest layer's.
            if (entry.EntryType == TarEntryType.Directory)
                _dirMeta[""] = (ModeOf(entry, directory: true), entry.Uid, entry.Gid, entry.ModificationTime);
            return;
        }
        var (parent, name) = Split(path);
        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            ApplyWhiteout(entry.Name, parent, name);
            return;
        }
        if (entry.Uid != 0 || entry.Gid != 0)
            _otherOwners++;
        var dir = Directory(parent, entry.Name);
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                MakeDirectory(dir, path, name, entry.Name);
                _dirMeta[path] = (ModeOf(entry, directory: true), entry.Uid, entry.Gid, entry.ModificationTime);
                break;
            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                Clear(dir, path, name, entry.Name);
                WriteFile(dir, name, entry);
                break;
            case TarEntryType.SymbolicLink:
                Clear(dir, path, name, entry.Name);
                if (Symlinkat(entry.LinkName, dir.Fd, name) != 0)
                    throw Fail(entry.Name, "cannot create the symlink: " + LastError());
                Finish(dir, name, entry, symlink: true);
                break;
            case TarEntryType.HardLink:
                Clear(dir, path, name, entry.Name);
                Link(dir, name, entry);
                break;
            case TarEntryType.Fifo:
                Clear(dir, path, name, entry.Name);
                if (Mknodat(dir.Fd, name, (int)S_IFIFO | 0x180, 0) != 0)
                    throw Fail(entry.Name, "cannot create the FIFO: " + LastError());
                Finish(dir, name, entry, symlink: false);
                break;
            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice:
                _devices++;
                break;
            default:
                throw Fail(entry.Name, $"unsupported entry type {entry.EntryType}");
        }
    }

    /// <summary>
    /// A whiteout hides what lower layers have under its name; entries of this layer itself it
    /// never removes (image-spec layer.md). A directory of this layer of that name becomes opaque.
    /// </summary>
    private void ApplyWhiteout(string entryName, string parent, string name)
    {
        var dir = Directory(parent, entryName);
        if (name == OpaqueMarker)
        {
            SetOpaque(dir, ".", entryName);
            return;
        }
        if (name.StartsWith(WhiteoutPrefix + WhiteoutPrefix, StringComparison.Ordinal))
            return; // aufs's own bookkeeping (.wh..wh.plnk and the like)
        string hidden = name[WhiteoutPrefix.Length..];
        if (hidden is "" or "." or "..")
            throw Fail(entryName, "a whiteout of no name");
        if (TryStatAt(dir.Fd, hidden, out var st) == 0)
        {
            if ((st.Mode & S_IFMT) == S_IFDIR)
                SetOpaque(dir, hidden, entryName);
            return;
        }
        if (Mknodat(dir.Fd, hidden, (int)S_IFCHR, 0) != 0)
            throw Fail(entryName, "cannot create the whiteout: " + LastError());
    }

    private void SetOpaque(SafeFd dir, string name, string entryName)
    {
        int fd = Openat2(dir.Fd, name, O_RDONLY | O_DIRECTORY, 0, Beneath);
        if (fd < 0)
            throw Fail(entryName, "cannot open the directory to mark it opaque: " + SyscallException.Describe((Errno)(-fd)));
        using var d = new SafeFd(fd);
        int e = SetXattr(d.Fd, OpaqueXattr, "y"u8.ToArray());
        if (e != 0)
            throw Fail(entryName, $"cannot mark the directory opaque ({OpaqueXattr}): {SyscallException.Describe((Errno)e)}");
    }

    /// <summary>Whether an entry is a whiteout this layer made (a 0:0 character device).</summary>
    private static bool IsWhiteout(in Statx st) => (st.Mode & S_IFMT) == S_IFCHR && st.RdevMajor == 0 && st.RdevMinor == 0;

    private void MakeDirectory(SafeFd dir, string path, string name, string entryName)
    {
        bool opaque = false;
        if (TryStatAt(dir.Fd, name, out var st) == 0)
        {
            if ((st.Mode & S_IFMT) == S_IFDIR)
                return;
            // A whiteout then the directory: the lower one is replaced, not merged.
            opaque = IsWhiteout(st);
            Clear(dir, path, name, entryName);
        }
        if (Mkdirat(dir.Fd, name, 0x1C0) != 0)
            throw Fail(entryName, "cannot create the directory: " + LastError());
        Fchmodat(dir.Fd, name, 0x1C0, 0);
        if (opaque)
            SetOpaque(dir, name, entryName);
    }

    /// <summary>Removes what this layer has at <paramref name="name"/> already (a later entry of a tar replaces an earlier one).</summary>
    private void Clear(SafeFd dir, string path, string name, string entryName)
    {
        if (TryStatAt(dir.Fd, name, out var st) != 0)
            return;
        if ((st.Mode & S_IFMT) == S_IFDIR)
        {
            Forget(path);
            int fd = Openat2(dir.Fd, name, O_RDONLY | O_DIRECTORY, 0, Beneath);
            if (fd >= 0)
            {
                using var d = new SafeFd(fd);
                FileSystem.FileTree.DeleteContents(d.Fd, path, openUp: true);
            }
            if (Unlinkat(dir.Fd, name, AT_REMOVEDIR) != 0)
                throw Fail(entryName, "cannot replace the directory: " + LastError());
            return;
        }
        if (Unlinkat(dir.Fd, name, 0) != 0)
            throw Fail(entryName, "cannot replace the existing entry: " + LastError());
    }

    private void WriteFile(SafeFd dir, string name, TarEntry entry)
    {
        int fd = Openat(dir.Fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0x180);
        if (fd < 0)
            throw Fail(entry.Name, "cannot create the file: " + LastError());
        using var file = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        if (entry.DataStream is { } data)
        {
            // One buffer for the whole layer: a FileStream per file cost an allocation and a copy each.
            long offset = 0;
            int n;
            while ((n = data.Read(_buffer)) > 0)
            {
                RandomAccess.Write(file, _buffer.AsSpan(0, n), offset);
                offset += n;
            }
            _bytes += offset;
        }
        Fchmod(fd, ModeOf(entry, directory: false));
        if (_keepOwners)
        {
            Fchownat(fd, "", (uint)entry.Uid, (uint)entry.Gid, AT_EMPTY_PATH);
            // chown clears setuid bits; the mode is given again after it (without them, see ModeOf).
            Fchmod(fd, (int)entry.Mode & 0xFFF & ~(S_ISUID | S_ISGID));
        }
        SetTime(fd, null, 0, entry.ModificationTime);
    }

    private void Link(SafeFd dir, string name, TarEntry entry)
    {
        string target = Clean(entry.LinkName);
        if (target.Length == 0)
            throw Fail(entry.Name, "a hard link to the layer's root");
        var (targetParent, targetName) = Split(target);
        int fd = Openat2(_root.Fd, targetParent.Length == 0 ? "." : targetParent, O_PATH | O_DIRECTORY, 0, Beneath);
        if (fd < 0)
            throw Fail(entry.Name, $"a hard link to {entry.LinkName}, which the layer does not hold");
        using var from = new SafeFd(fd);
        if (Linkat(from.Fd, targetName, dir.Fd, name, 0) != 0)
        {
            int e = Marshal.GetLastPInvokeError();
            throw Fail(entry.Name, e == (int)Errno.ENOENT
                ? $"a hard link to {entry.LinkName}, which the layer does not hold"
                : $"cannot link to {entry.LinkName}: {SyscallException.Describe((Errno)e)}");
        }
    }

    /// <summary>Owner and times of a FIFO or symlink (a symlink's mode means nothing on Linux).</summary>
    private void Finish(SafeFd dir, string name, TarEntry entry, bool symlink)
    {
        if (!symlink)
            Fchmodat(dir.Fd, name, ModeOf(entry, directory: false), 0);
        if (_keepOwners)
            Fchownat(dir.Fd, name, (uint)entry.Uid, (uint)entry.Gid, AT_SYMLINK_NOFOLLOW);
        SetTime(dir.Fd, name, AT_SYMLINK_NOFOLLOW, entry.ModificationTime);
    }

    private int ModeOf(TarEntry entry, bool directory)
    {
        int mode = (int)entry.Mode & 0xFFF;
        if (!directory && (mode & (S_ISUID | S_ISGID)) != 0)
        {
            _setuid++;
            mode &= ~(S_ISUID | S_ISGID);
        }
        return mode;
    }

    /// <summary>Access and modification time of <paramref name="name"/> in <paramref name="fd"/>, or of the open file <paramref name="fd"/> itself.</summary>
    private static unsafe void SetTime(int fd, string? name, int flags, DateTimeOffset time)
    {
        long ticks = time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        var t = new TimeSpec { Seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out long rest), Nanoseconds = Math.Max(rest, 0) * 100 };
        TimeSpec* times = stackalloc TimeSpec[2];
        times[0] = t;
        times[1] = t;
        if (name is null)
            Futimens(fd, times);
        else
            Utimensat(fd, name, times, flags);
    }

    /// <summary>
    /// The directory <paramref name="path"/> of the layer (O_PATH), created with its missing parents
    /// as tar does for entries whose directories come later or never. A symlink or a file on the way
    /// is an error: the layer's own entries are never followed.
    /// </summary>
    private SafeFd Directory(string path, string entryName)
    {
        if (path.Length == 0)
            return _root;
        if (_dirs.TryGetValue(path, out var cached))
            return cached;
        int fd = Openat2(_root.Fd, path, O_PATH | O_DIRECTORY, 0, Beneath);
        if (fd < 0 && -fd == (int)Errno.ENOENT)
        {
            var (parent, name) = Split(path);
            var up = Directory(parent, entryName);
            if (Mkdirat(up.Fd, name, 0x1C0) != 0 && Marshal.GetLastPInvokeError() != (int)Errno.EEXIST)
                throw Fail(entryName, $"cannot create its directory {path}: {LastError()}");
            Fchmodat(up.Fd, name, 0x1C0, 0);
            _dirMeta.TryAdd(path, (0x1ED, 0, 0, DateTimeOffset.UnixEpoch));
            fd = Openat2(_root.Fd, path, O_PATH | O_DIRECTORY, 0, Beneath);
        }
        if (fd < 0)
        {
            throw Fail(entryName, -fd is (int)Errno.ELOOP or (int)Errno.EXDEV or (int)Errno.ENOTDIR
                ? $"its directory {path} is a symlink or not a directory in this layer"
                : $"cannot open its directory {path}: {SyscallException.Describe((Errno)(-fd))}");
        }
        if (_dirs.Count >= 512)
            ForgetAll();
        var dir = new SafeFd(fd);
        _dirs[path] = dir;
        return dir;
    }

    private void Forget(string path)
    {
        foreach (string key in _dirs.Keys.Where(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
        {
            _dirs[key].Dispose();
            _dirs.Remove(key);
        }
        foreach (string key in _dirMeta.Keys.Where(k => k == path || k.StartsWith(path + "/", StringComparison.Ordinal)).ToList())
            _dirMeta.Remove(key);
    }

    private void ForgetAll()
    {
        foreach (var fd in _dirs.Values)
            fd.Dispose();
        _dirs.Clear();
    }

    /// <summary>Directories get their modes, owners and times last, deepest first, once nothing more is written into them.</summary>
    private void FinishDirectories()
    {
        ForgetAll();
        foreach (var (path, meta) in _dirMeta.OrderByDescending(p => p.Key.Length))
        {
            // Deepest first: the directory itself still has the owner's 0700 it was made with, so it opens.
            int fd = Openat2(_root.Fd, path.Length == 0 ? "." : path, O_RDONLY | O_DIRECTORY, 0, Beneath);
            if (fd < 0)
                continue;
            using var d = new SafeFd(fd);
            if (_keepOwners)
                Fchownat(d.Fd, "", (uint)meta.Uid, (uint)meta.Gid, AT_EMPTY_PATH);
            Fchmod(d.Fd, meta.Mode);
            SetTime(d.Fd, null, 0, meta.Time);
        }
    }

    private static string LastError() => SyscallException.Describe((Errno)Marshal.GetLastPInvokeError());

    public void Dispose()
    {
        ForgetAll();
        _root.Dispose();
    }
}
