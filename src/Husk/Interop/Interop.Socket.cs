using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Husk.Interop;

/// <summary>The supervisor's side of the channel to the child: a seqpacket socketpair, messages and control messages.</summary>
internal static partial class Interop
{
    internal const int SOL_SOCKET = 1;
    internal const int SCM_RIGHTS = 1;
    internal const int SCM_CREDENTIALS = 2;

    /// <summary>send: no SIGPIPE when the peer has gone (EPIPE instead).</summary>
    internal const int MSG_NOSIGNAL = 0x4000;

    /// <summary>recvmsg: descriptors that arrive with SCM_RIGHTS are close-on-exec.</summary>
    internal const int MSG_CMSG_CLOEXEC = 0x40000000;
    /// <summary>errno: a message too long for the socket (not in <see cref="Errno"/>: only the pool meets it).</summary>
    internal const int EMSGSIZE = 90;

    internal const int SHUT_RDWR = 2;

    /// <summary>shutdown(2): wakes a thread blocked in recvmsg on the socket (closing it would not).</summary>
    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    internal static partial int Shutdown(int fd, int how);

    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVec
    {
        public nint Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct MsgHdr
    {
        public nint Name;
        public uint NameLength;
        public nint Iov;
        public nuint IovLength;
        public nint Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr: the header of each control message.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct CmsgHdr
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>struct ucred, the data of SCM_CREDENTIALS.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UCred
    {
        public int Pid;
        public uint Uid;
        public uint Gid;
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "recvmsg", SetLastError = true)]
    private static unsafe partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

    /// <summary>
    /// recvmsg into <paramref name="data"/> with room for control messages, retried when a signal
    /// interrupts it: the bytes received (0 at end of stream), or -1 with the error in
    /// Marshal.GetLastPInvokeError(). <paramref name="controlLength"/> is how much of
    /// <paramref name="control"/> the kernel filled (read it with <see cref="ControlMessages"/>).
    /// </summary>
    internal static unsafe nint ReceiveMessage(int fd, Span<byte> data, Span<byte> control, int flags, out int controlLength)
    {
        fixed (byte* d = data, c = control)
        {
            var iov = new IoVec { Base = (nint)d, Length = (nuint)data.Length };
            nint n;
            MsgHdr msg;
            do
            {
                msg = new MsgHdr { Iov = (nint)(&iov), IovLength = 1, Control = (nint)c, ControlLength = (nuint)control.Length };
                n = RecvMsg(fd, &msg, flags);
            }
            while (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
            controlLength = n < 0 ? 0 : (int)msg.ControlLength;
            return n;
        }
    }

    /// <summary>
    /// The control messages recvmsg filled in, walked as CMSG_FIRSTHDR and CMSG_NXTHDR do: each
    /// header, then its data; the next header at the data's end rounded up to a word.
    /// </summary>
    internal ref struct ControlMessages(ReadOnlySpan<byte> buffer)
    {
        private static readonly int HeaderSize = Align(Unsafe.SizeOf<CmsgHdr>());
        private readonly ReadOnlySpan<byte> _buffer = buffer;
        private int _offset;

        private static int Align(int length) => (length + IntPtr.Size - 1) & ~(IntPtr.Size - 1);

        /// <summary>The next message, or false when none is left (or the rest is cut short).</summary>
        public bool MoveNext(out int level, out int type, out ReadOnlySpan<byte> data)
        {
            level = type = 0;
            data = default;
            if (_offset + HeaderSize > _buffer.Length)
                return false;
            var header = MemoryMarshal.Read<CmsgHdr>(_buffer[_offset..]);
            if (header.Length < (nuint)HeaderSize || header.Length > (nuint)(_buffer.Length - _offset))
                return false;
            int length = (int)header.Length;
            level = header.Level;
            type = header.Type;
            data = _buffer.Slice(_offset + HeaderSize, length - HeaderSize);
            _offset += Align(length);
            return true;
        }
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(int fd, void* buf, nuint count, int flags);

    [LibraryImport(Libraries.Libc, EntryPoint = "sendmsg", SetLastError = true)]
    private static unsafe partial nint SendMsg(int fd, MsgHdr* msg, int flags);

    /// <summary>Sends one message on a socket, with a descriptor (SCM_RIGHTS) when <paramref name="fd"/> is not -1; the errno, or 0.</summary>
    internal static int SendWithDescriptor(int socket, ReadOnlySpan<byte> data, int fd) =>
        fd >= 0 ? SendWithDescriptors(socket, data, default, [fd]) : SendWithDescriptors(socket, data, default, []);

    /// <summary>Sends one message, <paramref name="head"/> then <paramref name="body"/>, with <paramref name="fds"/> (SCM_RIGHTS); the errno, or 0.</summary>
    internal static unsafe int SendWithDescriptors(int socket, ReadOnlySpan<byte> head, ReadOnlySpan<byte> body, ReadOnlySpan<int> fds)
    {
        int headerSize = (Unsafe.SizeOf<CmsgHdr>() + IntPtr.Size - 1) & ~(IntPtr.Size - 1);
        int dataSize = sizeof(int) * fds.Length;
        int space = headerSize + ((dataSize + IntPtr.Size - 1) & ~(IntPtr.Size - 1));
        byte* control = stackalloc byte[space];
        new Span<byte>(control, space).Clear();
        fixed (byte* h = head, b = body)
        {
            IoVec* iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = (nint)h, Length = (nuint)head.Length };
            iov[1] = new IoVec { Base = (nint)b, Length = (nuint)body.Length };
            var msg = new MsgHdr { Iov = (nint)iov, IovLength = body.IsEmpty ? 1u : 2u };
            if (fds.Length > 0)
            {
                *(CmsgHdr*)control = new CmsgHdr { Length = (nuint)(headerSize + dataSize), Level = SOL_SOCKET, Type = SCM_RIGHTS };
                fds.CopyTo(new Span<int>(control + headerSize, fds.Length));
                msg.Control = (nint)control;
                msg.ControlLength = (nuint)space;
            }
            while (true)
            {
                if (SendMsg(socket, &msg, MSG_NOSIGNAL) >= 0)
                    return 0;
                int e = Marshal.GetLastPInvokeError();
                if (e != (int)Errno.EINTR)
                    return e;
            }
        }
    }

    [LibraryImport(Libraries.Libc, EntryPoint = "socketpair", SetLastError = true)]
    private static unsafe partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport(Libraries.Libc, EntryPoint = "setsockopt", SetLastError = true)]
    private static unsafe partial int SetSockOpt(int fd, int level, int name, void* value, uint length);

    /// <summary>A seqpacket socketpair whose first end receives SCM_CREDENTIALS.</summary>
    internal static unsafe (SafeFd Parent, SafeFd Child) ChannelPair()
    {
        const int AF_UNIX = 1, SOCK_SEQPACKET = 5, SOCK_CLOEXEC = 0x80000, SO_PASSCRED = 16;
        int* fds = stackalloc int[2];
        if (SocketPair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
            throw SyscallException.FromLastError("socketpair");
        var parent = new SafeFd(fds[0]);
        var child = new SafeFd(fds[1]);
        int one = 1;
        if (SetSockOpt(fds[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(int)) != 0)
        {
            parent.Dispose();
            child.Dispose();
            throw SyscallException.FromLastError("setsockopt", "SO_PASSCRED");
        }
        return (parent, child);
    }
}
