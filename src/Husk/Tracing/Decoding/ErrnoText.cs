using System.Collections.Concurrent;

namespace Husk.Tracing;

/// <summary>
/// Error numbers as strace names them (ENOENT), with their text (strerror's: "No such file or
/// directory"), and the kernel's restart codes a call interrupted by a signal returns.
/// </summary>
internal static class ErrnoText
{
    private static readonly string?[] Names =
    [
        null, "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF", "ECHILD", "EAGAIN",
        "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL",
        "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG", "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM",
        "ERANGE", "EDEADLK", "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP", null, "ENOMSG", "EIDRM",
        "ECHRNG", "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT", "EBADE", "EBADR", "EXFULL",
        "ENOANO", "EBADRQC", "EBADSLT", null, "EBFONT", "ENOSTR", "ENODATA", "ETIME", "ENOSR", "ENONET", "ENOPKG",
        "EREMOTE", "ENOLINK", "EADV", "ESRMNT", "ECOMM", "EPROTO", "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW",
        "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC", "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART",
        "ESTRPIPE", "EUSERS", "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT",
        "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE", "EADDRNOTAVAIL", "ENETDOWN",
        "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET", "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN",
        "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED", "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE",
        "EUCLEAN", "ENOTNAM", "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED",
        "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD", "ENOTRECOVERABLE", "ERFKILL",
        "EHWPOISON"
    ];

    private static readonly ConcurrentDictionary<int, string> Messages = new();

    /// <summary>The name of errno <paramref name="errno"/> (ENOENT), or ERRNO_N.</summary>
    public static string Name(int errno) => errno switch
    {
        > 0 when errno < Names.Length && Names[errno] is { } n => n,
        512 => "ERESTARTSYS",
        513 => "ERESTARTNOINTR",
        514 => "ERESTARTNOHAND",
        515 => "ENOIOCTLCMD",
        516 => "ERESTART_RESTARTBLOCK",
        _ => "ERRNO_" + errno.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>strerror's text, or strace's for the restart codes.</summary>
    public static string Message(int errno) => errno switch
    {
        512 => "To be restarted if SA_RESTART is set",
        513 => "To be restarted",
        514 => "Interrupted by signal",
        515 => "Inappropriate ioctl for device",
        516 => "Interrupted by signal",
        _ => Messages.GetOrAdd(errno, e => SyscallException.Describe((Errno)e)),
    };

    /// <summary>A restart code: the call did not finish and will be restarted or fail with EINTR; it returns nothing yet.</summary>
    public static bool IsRestart(int errno) => errno is >= 512 and <= 516;

    /// <summary>The number of an errno name, or null.</summary>
    public static int? Parse(string name)
    {
        int i = Array.IndexOf(Names, name);
        return i > 0 ? i : null;
    }
}
