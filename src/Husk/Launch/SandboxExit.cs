namespace Husk;

/// <summary>How the payload ended, with the resource usage the kernel accounted to it.</summary>
public sealed record SandboxExit
{
    /// <summary>The exit status (0-255) when the payload exited, or null when a signal killed it.</summary>
    public int? ExitCode { get; init; }
    /// <summary>The signal that killed the payload, or null when it exited.</summary>
    public int? Signal { get; init; }
    /// <summary>The payload produced a core dump.</summary>
    public bool CoreDumped { get; init; }
    /// <summary>CPU time in user mode of the payload and every descendant it waited for.</summary>
    public TimeSpan UserTime { get; init; }
    /// <summary>CPU time in kernel mode, likewise.</summary>
    public TimeSpan SystemTime { get; init; }
    /// <summary>
    /// Largest resident set of any single process of the tree, in bytes, as wait4 reports it. The
    /// payload starts from memory it borrowed from the supervisor until its exec, and the kernel
    /// keeps that memory's high-water mark in the payload's ru_maxrss: this is at least the
    /// supervisor's own peak. <see cref="ResourceUsage.PeakMemoryBytes"/> is the measured one.
    /// </summary>
    public long MaxResidentBytes { get; init; }

    /// <summary>Bytes the reaped tree passed to write calls (the init's I/O accounting), or null when unknown.</summary>
    public long? WrittenBytes { get; init; }

    /// <summary>husk-init reaped the whole tree and reported it: the times are exactly the payload tree's.</summary>
    internal bool ReapedByInit { get; init; }

    /// <summary>The status a shell would report: the exit code, or 128 + the signal.</summary>
    public int ShellStatus => ExitCode ?? 128 + (Signal ?? 0);
}
