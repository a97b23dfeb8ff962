using System.Collections.Immutable;

namespace Husk.Tracing;

/// <summary>What a <see cref="SyscallEvent"/> reports.</summary>
public enum TraceEventKind
{
    /// <summary>A system call and what it returned.</summary>
    Syscall,
    /// <summary>A signal delivered to the thread (<see cref="SyscallEvent.Number"/> is the signal).</summary>
    Signal,
    /// <summary>The thread exited (<see cref="SyscallEvent.Number"/> is the status).</summary>
    Exited,
    /// <summary>The thread was killed (<see cref="SyscallEvent.Number"/> is the signal).</summary>
    Killed,
    /// <summary>Something the tracer could not follow, said in <see cref="SyscallEvent.Name"/> (a 32-bit program).</summary>
    Notice,
}

/// <summary>One argument of a traced call: its raw value, as strace would print it, and what it names.</summary>
/// <param name="Raw">The register's value.</param>
/// <param name="Text">The decoded form: <c>"/etc/hosts"</c>, <c>O_RDONLY|O_CLOEXEC</c>, <c>AT_FDCWD</c>, <c>{sa_family=AF_INET, ...}</c>.</param>
public sealed record SyscallArgument(ulong Raw, string Text)
{
    /// <summary>
    /// What the argument names, for a program to use: a path or string as read (unquoted), an
    /// address (<c>127.0.0.1:80</c>, <c>[::1]:443</c>, a socket path), or null.
    /// </summary>
    public string? Value { get; init; }

    /// <summary>The decoded form.</summary>
    public override string ToString() => Text;
}

/// <summary>
/// A traced system call of the sandbox's process tree (or a signal, an exit or a notice), with its
/// decoded arguments, return value and timing, as <see cref="SandboxProcess.Events"/> delivers them.
/// </summary>
public sealed record SyscallEvent
{
    /// <summary>What this reports.</summary>
    public required TraceEventKind Kind { get; init; }

    /// <summary>The thread's id in the sandbox's pid namespace (what the program sees as its pid or tid).</summary>
    public required int Pid { get; init; }

    /// <summary>The thread's id in the supervisor's pid namespace.</summary>
    public required int HostPid { get; init; }

    /// <summary>The system call's number, the signal, or the exit status.</summary>
    public required int Number { get; init; }

    /// <summary>The system call's name ("openat"), the signal's ("SIGCHLD"), or the notice's text.</summary>
    public required string Name { get; init; }

    /// <summary>The decoded arguments of a call; for a signal, its siginfo as one argument.</summary>
    public ImmutableArray<SyscallArgument> Arguments { get; init; } = [];

    /// <summary>The call's return value (-1 when it failed); null when it did not return (exit_group, a thread killed inside it).</summary>
    public long? ReturnValue { get; init; }

    /// <summary>The error the call failed with, or null.</summary>
    public Errno? Error { get; init; }

    /// <summary>The error's name as strace prints it (ENOENT, EINPROGRESS, ERESTARTSYS), or null.</summary>
    public string? ErrorName => Error is { } e ? ErrnoText.Name((int)e) : null;

    /// <summary>When the call entered (or the signal or exit was seen).</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>How long the call took, from its entry to its return as the tracer saw them.</summary>
    public TimeSpan Duration { get; init; }

    /// <summary>The event as one strace-like line, without the pid.</summary>
    public override string ToString() => TraceFormatter.Body(this);
}
