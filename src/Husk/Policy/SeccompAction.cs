namespace Husk.Policy;

/// <summary>What a seccomp filter does with a system call.</summary>
public enum SeccompActionKind
{
    /// <summary>Run it.</summary>
    Allow,
    /// <summary>Fail it with an errno, without running it (errno 0: a successful no-op).</summary>
    Errno,
    /// <summary>Kill the whole process with SIGSYS.</summary>
    KillProcess,
    /// <summary>Kill the calling thread with SIGSYS.</summary>
    KillThread,
    /// <summary>Send SIGSYS to the caller, which may handle it.</summary>
    Trap,
    /// <summary>Run it and log it to the audit log.</summary>
    Log,
    /// <summary>Ask the supervisor through the user-notification listener.</summary>
    UserNotify,
    /// <summary>Stop for the tracer (ptrace); without one the call fails with ENOSYS. Husk's tracing uses it; profiles cannot.</summary>
    Trace,
}

/// <summary>An action with its data (the errno for <see cref="SeccompActionKind.Errno"/>).</summary>
public readonly record struct SeccompAction(SeccompActionKind Kind, ushort Data = 0)
{
    /// <summary>Allow the call.</summary>
    public static SeccompAction Allow => new(SeccompActionKind.Allow);
    /// <summary>Kill the process.</summary>
    public static SeccompAction KillProcess => new(SeccompActionKind.KillProcess);
    /// <summary>Kill the thread.</summary>
    public static SeccompAction KillThread => new(SeccompActionKind.KillThread);
    /// <summary>Raise SIGSYS.</summary>
    public static SeccompAction Trap => new(SeccompActionKind.Trap);
    /// <summary>Allow and log.</summary>
    public static SeccompAction Log => new(SeccompActionKind.Log);
    /// <summary>Defer to the user-notification listener.</summary>
    public static SeccompAction UserNotify => new(SeccompActionKind.UserNotify);

    /// <summary>Stop for the tracer, which sees <paramref name="data"/> as the filter's data.</summary>
    public static SeccompAction Trace(ushort data) => new(SeccompActionKind.Trace, data);

    /// <summary>Fail with <paramref name="errno"/> (0 makes the call a successful no-op).</summary>
    public static SeccompAction Fail(Errno errno) => Fail((int)errno);

    /// <summary>Fail with errno number <paramref name="errno"/> (0 to 4095).</summary>
    public static SeccompAction Fail(int errno)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(errno);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(errno, 4095);
        return new(SeccompActionKind.Errno, (ushort)errno);
    }

    /// <summary>The SECCOMP_RET_* value a filter returns.</summary>
    public uint Value => Kind switch
    {
        SeccompActionKind.Allow => 0x7fff0000,
        SeccompActionKind.Errno => 0x00050000 | (uint)Data,
        SeccompActionKind.KillProcess => 0x80000000,
        SeccompActionKind.KillThread => 0x00000000,
        SeccompActionKind.Trap => 0x00030000 | (uint)Data,
        SeccompActionKind.Log => 0x7ffc0000,
        SeccompActionKind.UserNotify => 0x7fc00000,
        SeccompActionKind.Trace => 0x7ff00000 | (uint)Data,
        _ => throw new InvalidOperationException($"unknown seccomp action {Kind}"),
    };

    /// <summary>"allow", "errno:EPERM", "kill-process", ... (the form profiles use).</summary>
    public override string ToString() => Kind switch
    {
        SeccompActionKind.Allow => "allow",
        SeccompActionKind.Errno => "errno:" + (Enum.IsDefined((Errno)Data) ? ((Errno)Data).ToString() : Data.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        SeccompActionKind.KillProcess => "kill-process",
        SeccompActionKind.KillThread => "kill-thread",
        SeccompActionKind.Trap => "trap",
        SeccompActionKind.Log => "log",
        SeccompActionKind.UserNotify => "notify",
        SeccompActionKind.Trace => "trace",
        _ => Kind.ToString(),
    };

    /// <summary>Parses the form <see cref="ToString"/> writes; "errno" alone is EPERM, "errno:N" takes a number or a name.</summary>
    public static bool TryParse(string text, out SeccompAction action)
    {
        action = default;
        string head = text, arg = "";
        int colon = text.IndexOf(':');
        if (colon >= 0)
        {
            head = text[..colon];
            arg = text[(colon + 1)..];
        }
        switch (head)
        {
            case "allow" when arg.Length == 0: action = Allow; return true;
            case "kill" or "kill-process" when arg.Length == 0: action = KillProcess; return true;
            case "kill-thread" when arg.Length == 0: action = KillThread; return true;
            case "trap" when arg.Length == 0: action = Trap; return true;
            case "log" when arg.Length == 0: action = Log; return true;
            case "notify" or "user-notify" when arg.Length == 0: action = UserNotify; return true;
            case "errno":
                if (arg.Length == 0)
                {
                    action = Fail(Errno.EPERM);
                    return true;
                }
                if (ErrnoNames.TryParse(arg, out int n))
                {
                    action = Fail(n);
                    return true;
                }
                return false;
            default:
                return false;
        }
    }
}

/// <summary>errno values by name or number.</summary>
internal static class ErrnoNames
{
    /// <summary>Parses "EPERM", "eperm", "1" or "0".</summary>
    public static bool TryParse(string text, out int errno)
    {
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out errno))
            return errno <= 4095;
        if (Enum.TryParse<Errno>(text.ToUpperInvariant(), out var e) && text.StartsWith("E", StringComparison.OrdinalIgnoreCase))
        {
            errno = (int)e;
            return true;
        }
        errno = 0;
        return false;
    }
}
