namespace Husk;

/// <summary>What the sandbox's whole process tree used, measured by the backend that ran it.</summary>
public sealed record ResourceUsage
{
    /// <summary>CPU time in user mode of every process of the tree.</summary>
    public TimeSpan UserTime { get; init; }

    /// <summary>CPU time in kernel mode of every process of the tree.</summary>
    public TimeSpan SystemTime { get; init; }

    /// <summary>User and system time together.</summary>
    public TimeSpan CpuTime => UserTime + SystemTime;

    /// <summary>Wall-clock time from the payload's start to its end.</summary>
    public TimeSpan WallTime { get; init; }

    /// <summary>
    /// Peak memory in bytes: the cgroup's peak charge with a memory controller, else the largest
    /// resident memory of the tree the supervisor observed (and no less than the largest resident
    /// set of a single process), looked at first as soon as the payload runs; 0 when it was not
    /// measured (a program that ends within about a millisecond, said in the backend notes). The
    /// kernel's ru_maxrss cannot stand in: the payload is cloned from the supervisor's memory,
    /// whose high-water mark exec carries into it.
    /// </summary>
    public long PeakMemoryBytes { get; init; }

    /// <summary>Bytes the payload wrote to its standard output (counted when it was a pipe to the supervisor).</summary>
    public long StdoutBytes { get; init; }

    /// <summary>Bytes the payload wrote to its standard error (counted when it was a pipe to the supervisor).</summary>
    public long StderrBytes { get; init; }

    /// <summary>Standard output and error together.</summary>
    public long OutputBytes => StdoutBytes + StderrBytes;

    /// <summary>
    /// Bytes the tree passed to write system calls of any kind (files, pipes, sockets), from the
    /// kernel's per-process I/O accounting (/proc/PID/io wchar) of the processes the sandbox's init
    /// reaped; null when it could not be read.
    /// </summary>
    public long? WrittenBytes { get; init; }

    /// <summary>The most processes and threads seen at once (the cgroup's pids.peak, or sampled; at least 1, the payload).</summary>
    public int PeakProcesses { get; init; }

    /// <summary>The cgroup's OOM killer killed a process of the tree.</summary>
    public bool OomKilled { get; init; }
}
