using System.Runtime.InteropServices;

namespace Husk;

/// <summary>A system call failed; carries the call's name, what it was applied to and the error.</summary>
public sealed class SyscallException : Exception
{
    internal SyscallException(string syscall, string? subject, Errno errno)
        : base(Format(syscall, subject, errno))
    {
        Syscall = syscall;
        Subject = subject;
        Errno = errno;
    }

    /// <summary>The failing call, e.g. <c>openat2</c>.</summary>
    public string Syscall { get; }

    /// <summary>The path or value the call was applied to, if any.</summary>
    public string? Subject { get; }

    /// <summary>The error the kernel returned.</summary>
    public Errno Errno { get; }

    /// <summary>The kernel's text for an error number, as strerror gives it.</summary>
    public static string Describe(Errno errno) => Marshal.GetPInvokeErrorMessage((int)errno);

    private static string Format(string syscall, string? subject, Errno errno) =>
        subject is null ? $"{syscall}: {Describe(errno)}" : $"{syscall} {subject}: {Describe(errno)}";

    internal static SyscallException FromLastError(string syscall, string? subject = null) =>
        new(syscall, subject, (Errno)Marshal.GetLastPInvokeError());
}
