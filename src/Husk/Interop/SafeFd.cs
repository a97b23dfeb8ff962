using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>Owns one file descriptor; 0 is a valid descriptor, -1 is not.</summary>
internal class SafeFd : SafeHandle
{
    public SafeFd()
        : base(new IntPtr(-1), ownsHandle: true)
    {
    }

    public SafeFd(int fd, bool ownsHandle = true)
        : base(new IntPtr(-1), ownsHandle)
    {
        SetHandle(new IntPtr(fd));
    }

    public override bool IsInvalid => handle == new IntPtr(-1);

    public int Fd => (int)handle;

    /// <summary>Gives up ownership and returns the raw descriptor.</summary>
    public int Release()
    {
        int fd = (int)handle;
        SetHandleAsInvalid();
        return fd;
    }

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}

/// <summary>A pidfd: the only way Husk refers to a child, so a reused pid can never be hit.</summary>
internal sealed class SafePidfd : SafeFd
{
    public SafePidfd(int fd)
        : base(fd)
    {
    }
}
