using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Images;

/// <summary>An image's files in a directory (an OCI layout), opened beneath it without following symlinks.</summary>
internal sealed class DirectoryImageFiles : ImageFiles
{
    private const ulong Beneath = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    private readonly SafeFd _dir;

    public DirectoryImageFiles(string reference, string path)
        : base(reference)
    {
        int fd = Openat2(AT_FDCWD, path, O_PATH | O_DIRECTORY, 0, 0);
        if (fd < 0)
            throw new ImageException(reference, $"{path}: {SyscallException.Describe((Errno)(-fd))}");
        _dir = new SafeFd(fd);
    }

    public override long? SizeOf(string name)
    {
        int fd = Openat2(_dir.Fd, CheckName(name, "file"), O_PATH, 0, Beneath);
        if (fd < 0)
            return null;
        using var file = new SafeFd(fd);
        return TryFstat(file.Fd, out var st) == 0 && (st.Mode & S_IFMT) == S_IFREG ? (long)st.Size : null;
    }

    public override Stream Open(string name)
    {
        string clean = CheckName(name, "file");
        int fd = Openat2(_dir.Fd, clean, O_RDONLY | O_NOFOLLOW, 0, Beneath);
        if (fd < 0)
            throw new ImageException(Reference, $"{clean}: {(-fd == (int)Errno.ENOENT ? "missing" : SyscallException.Describe((Errno)(-fd)))}");
        return new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true), FileAccess.Read, 1 << 16);
    }

    public override void Dispose() => _dir.Dispose();
}
