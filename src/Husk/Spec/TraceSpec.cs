using System.Runtime.InteropServices;
using Husk.Tracing;

namespace Husk;

/// <summary>How a trace's lines are written.</summary>
public enum TraceFormat
{
    /// <summary>strace's lines: <c>[pid 2] openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = 3 &lt;0.000012&gt;</c>.</summary>
    Text,
    /// <summary>One JSON object per line with the same fields.</summary>
    Json,
    /// <summary>mbox's lines (its <c>-d</c>): <c>&gt; [    2] openat(...</c> at entry, <c>&lt; ) = 3</c> at exit.</summary>
    Mbox,
}

/// <summary>
/// Tracing as intent: which system calls of the whole process tree are interposed (seccomp
/// RET_TRACE, one ptrace stop at entry and one for the return value, on a tracer thread of the
/// supervisor), where their lines go, and whether they are counted. Tracing observes: it adds no
/// verdict and changes nothing the payload does, except that the payload's own <c>ptrace</c>
/// fails with EPERM. Calls a seccomp filter refuses (the profile's errno rules, kills) or hands
/// to <see cref="SandboxSpec.SyscallCallback"/> never reach the tracer: the kernel takes the
/// strictest action of all filters, and those outrank a trace.
/// </summary>
public sealed record TraceSpec
{
    /// <summary>The calls interposed (default: all).</summary>
    public SyscallSet Syscalls { get; init; } = SyscallSet.All;

    /// <summary>Write lines to this descriptor of the caller (<c>Descriptors.Borrow(2)</c> for standard error), or null.</summary>
    public SafeHandle? Output { get; init; }

    /// <summary>Write lines to this file (created or truncated), or null.</summary>
    public string? OutputFile { get; init; }

    /// <summary>The lines' format.</summary>
    public TraceFormat Format { get; init; } = TraceFormat.Text;

    /// <summary>
    /// Deliver the calls as <see cref="SandboxProcess.Events"/>: a bounded buffer of
    /// <see cref="EventCapacity"/> events, which the traced program waits on when it is full.
    /// </summary>
    public bool Events { get; init; }

    /// <summary>The events buffered for a reader of <see cref="SandboxProcess.Events"/> before the program waits.</summary>
    public int EventCapacity { get; init; } = 1024;

    /// <summary>Count time, calls and errors per call for <see cref="SandboxResult.SyscallCounts"/> (strace -c).</summary>
    public bool Count { get; init; }

    /// <summary>Whether anything asks for lines.</summary>
    internal bool WritesLines => Output is not null || OutputFile is not null;

    /// <summary>Lists every problem, each a sentence a user can act on.</summary>
    internal IEnumerable<string> Validate()
    {
        if (Output is { } output && (output.IsInvalid || output.IsClosed))
            yield return "the trace's output descriptor is not an open descriptor";
        if (Output is not null && OutputFile is not null)
            yield return "the trace goes to one place: a descriptor or a file, not both";
        if (EventCapacity < 1)
            yield return $"the trace's event buffer needs room for at least one event: {EventCapacity}";
        if (!WritesLines && !Events && !Count)
            yield return "a trace with no output, no events and no counting shows nothing: ask for one of them";
    }
}
