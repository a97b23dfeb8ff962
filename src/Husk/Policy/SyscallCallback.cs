using System.Collections.Immutable;

namespace Husk.Policy;

/// <summary>
/// A system call the payload is making, stopped until the callback decides; with a traced
/// callback (<see cref="SyscallCallback.Traced"/>) also the call's return, or a signal on its way.
/// </summary>
/// <param name="Pid">The calling thread's id in the supervisor's pid namespace.</param>
/// <param name="Name">The system call's name ("openat"), or its number as text when the table lacks it; a signal's name ("SIGSEGV").</param>
/// <param name="Number">The system call's number on this architecture; a signal's number.</param>
/// <param name="Arguments">The six raw arguments (pointers point into the payload's memory); none for a signal.</param>
public sealed record SyscallRequest(int Pid, string Name, int Number, ImmutableArray<ulong> Arguments)
{
    /// <summary>Where the payload is stopped: at a call's entry (the only stop without tracing), its return, or a signal's delivery.</summary>
    public SyscallStop Stop { get; init; }

    /// <summary>At <see cref="SyscallStop.Exit"/>: what the call returned (a negative errno when it failed).</summary>
    public long? ReturnValue { get; init; }

    /// <summary>At <see cref="SyscallStop.Signal"/>: the signal's si_code (SEGV_MAPERR, SI_USER, SI_TKILL...).</summary>
    public int? SignalCode { get; init; }
}

/// <summary>Where a <see cref="SyscallRequest"/> stopped the payload.</summary>
public enum SyscallStop
{
    /// <summary>Before the call runs.</summary>
    Entry,

    /// <summary>After the call ran, with its return value (traced callbacks only).</summary>
    Exit,

    /// <summary>A signal is about to be delivered (traced callbacks only).</summary>
    Signal,
}

/// <summary>What happens to a system call the callback saw.</summary>
public readonly record struct SyscallDecision
{
    private SyscallDecision(SyscallDecisionKind kind, Errno errno) => (Kind, Errno) = (kind, errno);

    /// <summary>Allow, Deny or Kill.</summary>
    public SyscallDecisionKind Kind { get; }

    /// <summary>The error a denied call returns.</summary>
    public Errno Errno { get; }

    /// <summary>The call goes ahead as if no filter had stopped it.</summary>
    public static SyscallDecision Allow => new(SyscallDecisionKind.Allow, 0);

    /// <summary>The call fails with <paramref name="errno"/> (EPERM by default) and the payload goes on.</summary>
    public static SyscallDecision Deny(Errno errno = Errno.EPERM) => new(SyscallDecisionKind.Deny, errno);

    /// <summary>The whole tree is killed; the verdict is <see cref="Verdict.RestrictedFunction"/>.</summary>
    public static SyscallDecision Kill => new(SyscallDecisionKind.Kill, Errno.EPERM);
}

/// <summary>The kinds of <see cref="SyscallDecision"/>.</summary>
public enum SyscallDecisionKind
{
    /// <summary>Let the call run.</summary>
    Allow,

    /// <summary>Fail the call with an errno.</summary>
    Deny,

    /// <summary>Kill the sandbox (RestrictedFunction).</summary>
    Kill,
}

/// <summary>
/// A syscall policy decided at run time: the named system calls stop (seccomp user notification)
/// and <see cref="Decide"/> says what happens to each, on a thread of the supervisor's. The
/// filter adds to the seccomp profile, which still applies: a call the profile refuses never
/// reaches the callback. The payload's arguments are only read here, never trusted: a pointer's
/// target can change after the decision (check paths with Landlock or mounts instead).
/// </summary>
/// <param name="Syscalls">Names of the system calls the callback sees.</param>
/// <param name="Decide">Called once per stopped call; it must not block for long (the caller waits).</param>
public sealed record SyscallCallback(ImmutableArray<string> Syscalls, Func<SyscallRequest, SyscallDecision> Decide)
{
    /// <summary>
    /// Decided from ptrace stops instead of seccomp user notification (libsandbox's way): the
    /// callback also sees each call's return (<see cref="SyscallStop.Exit"/>, with its value) and
    /// each signal delivered to the payload (<see cref="SyscallStop.Signal"/>, with its si_code);
    /// Kill stops the call, or the signal, before it acts. Two stops a call, so slower; not with
    /// <see cref="SandboxSpec.Trace"/>. At an exit Deny is Allow; at a signal Deny drops it.
    /// </summary>
    public bool Traced { get; init; }

    /// <summary>
    /// The one call a callback never sees: the sandbox's start hands the listener over with it,
    /// after the filter is in and before anyone serves the listener.
    /// </summary>
    internal const string StageCall = "sendmsg";

    /// <summary>The BPF filter that sends <see cref="Syscalls"/> (but <see cref="StageCall"/>) to the listener and allows the rest.</summary>
    internal ImmutableArray<byte> Compile() => SeccompCompiler.Compile(new SeccompPolicy
    {
        DefaultAction = SeccompAction.Allow,
        ForeignAction = SeccompAction.Allow, // the profile's own filter decides about other architectures
        UnknownAction = null,
        Rules = [.. Syscalls.Where(name => name != StageCall).Select(name => new SeccompRule(name, SeccompAction.UserNotify))],
    });
}
