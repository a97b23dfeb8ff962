namespace Husk.Tracing;

/// <summary>
/// How one argument of a system call is decoded. The "O" kinds are outputs, read once the call
/// returned; a buffer or sockaddr takes its length from the argument after it.
/// </summary>
internal enum ArgumentKind : byte
{
    /// <summary>Signed, as an int (int pids, -1).</summary>
    Int,
    /// <summary>Signed 64-bit (offsets).</summary>
    Long,
    /// <summary>Unsigned (sizes, counts).</summary>
    Size,
    /// <summary>Hexadecimal.</summary>
    Hex,
    /// <summary>A pointer: NULL or hexadecimal.</summary>
    Pointer,
    Fd,
    /// <summary>A directory fd: AT_FDCWD or a number.</summary>
    DirFd,
    /// <summary>A NUL-terminated path or name, read at entry.</summary>
    Path,
    /// <summary>Data written (write's buffer): the length is the next argument.</summary>
    Buffer,
    /// <summary>Data read (read's buffer): as long as the return value.</summary>
    OutBuffer,
    /// <summary>A path the call writes (readlink's): as long as the return value, shown whole.</summary>
    OutPath,
    /// <summary>A NUL-terminated string the call writes (getcwd's).</summary>
    OutString,
    Argv,
    Environment,
    OpenFlags,
    /// <summary>Permission bits in octal.</summary>
    Mode,
    /// <summary>open's mode: shown only when the flags before it create a file (O_CREAT, O_TMPFILE), as strace does.</summary>
    OpenMode,
    /// <summary>A mode with its file type (mknod's).</summary>
    FileMode,
    AtFlags,
    AccessMode,
    Protection,
    MmapFlags,
    CloneFlags,
    Signal,
    SignalSet,
    OutSignalSet,
    /// <summary>A sockaddr given to the call; its length is the next argument.</summary>
    Sockaddr,
    /// <summary>A sockaddr the call fills; the next argument points to its length.</summary>
    OutSockaddr,
    /// <summary>A socklen_t* the call updates.</summary>
    OutLength,
    Family,
    SocketType,
    OutStat,
    OutStatx,
    Whence,
    FcntlCommand,
    IoctlRequest,
    OutWaitStatus,
    WaitOptions,
    /// <summary>The two fds pipe and socketpair return through an int[2].</summary>
    OutFdPair,
    Timespec,
    OutTimespec,
    Clock,
    PrctlOption,
    ArchPrctlCode,
    Resource,
    RenameFlags,
    SocketLevel,
    SigprocmaskHow,
    ShutdownHow,
    FutexOp,
}

/// <summary>How a system call's return value is shown.</summary>
internal enum ReturnKind : byte
{
    /// <summary>Signed decimal.</summary>
    Int,
    /// <summary>Hexadecimal (mmap, brk).</summary>
    Hex,
    /// <summary>Octal (umask).</summary>
    Octal,
    /// <summary>The call does not return (exit, exit_group): "?".</summary>
    None,
}
