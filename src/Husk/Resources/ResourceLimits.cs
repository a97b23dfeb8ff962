using System.Collections.Immutable;
using System.Globalization;

namespace Husk;

/// <summary>
/// Quotas for one sandbox run and how they are enforced. Every value is optional; a spec whose
/// limits are all unset (<see cref="None"/>) is not supervised at all. Any limit set, or
/// <see cref="MeasureUsage"/>, turns supervision on: a backend is chosen when the sandbox starts
/// (cgroup v2, cgroup v1 as root, else rlimits with the supervisor sampling /proc), core dumps are
/// off, the process count is capped (<see cref="DefaultProcesses"/> unless <see cref="Processes"/>
/// says otherwise) and the run ends with a <see cref="Verdict"/>.
/// </summary>
public sealed record ResourceLimits
{
    /// <summary>No limits and no supervision: the sandbox runs as it would without Husk's quotas.</summary>
    public static ResourceLimits None { get; } = new();

    /// <summary>The process count a supervised sandbox gets when <see cref="Processes"/> is not set, so a fork bomb stays contained.</summary>
    public const int DefaultProcesses = 4096;

    /// <summary>CPU time (user and system) of the whole process tree; over it the tree is killed (<see cref="Verdict.TimeLimit"/>).</summary>
    public TimeSpan? CpuTime { get; init; }

    /// <summary>Wall-clock time from the start of the payload; over it the tree is killed (<see cref="Verdict.WallTimeLimit"/>).</summary>
    public TimeSpan? WallTime { get; init; }

    /// <summary>
    /// Memory of the whole tree in bytes: the cgroup's charge (anonymous memory, page cache, tmpfs,
    /// kernel memory) with a cgroup, or the tree's resident anonymous and shared memory, sampled by
    /// the supervisor, without one. Over it the tree is killed (<see cref="Verdict.MemoryLimit"/>).
    /// Tmpfs mounts of the spec without a size get this size, so files in memory cannot exceed it either.
    /// </summary>
    public long? MemoryBytes { get; init; }

    /// <summary>RLIMIT_AS of every process: allocations beyond it fail (the program sees ENOMEM, as with isolate's --mem).</summary>
    public long? AddressSpaceBytes { get; init; }

    /// <summary>Processes and threads of the payload's tree (cgroup pids.max, or RLIMIT_NPROC counted in the sandbox's own user namespace).</summary>
    public int? Processes { get; init; }

    /// <summary>
    /// Output in bytes: the size any file may reach (RLIMIT_FSIZE, set one byte higher: a write
    /// that goes past the limit is cut at limit + 1 bytes, with SIGXFSZ or EFBIG), and the bytes of
    /// standard output and error together, counted by the supervisor when they are pipes
    /// (<see cref="StdioMode.Pipe"/>); beyond it the tree is killed. <see cref="Verdict.OutputLimit"/>
    /// when the payload dies of SIGXFSZ, or when a file in a persistent overlay's upper directory
    /// was written past the limit by any process of the tree (see the verdict's message); files
    /// on tmpfs mounts and in writable bind mounts are not looked at.
    /// </summary>
    public long? OutputBytes { get; init; }

    /// <summary>Open descriptors per process (RLIMIT_NOFILE).</summary>
    public int? OpenFiles { get; init; }

    /// <summary>Stack size per process (RLIMIT_STACK).</summary>
    public long? StackBytes { get; init; }

    /// <summary>CPU bandwidth in CPUs (0.5 is half of one CPU): cgroup cpu.max or cfs_quota_us. Needs a cgroup with the cpu controller.</summary>
    public double? Cpus { get; init; }

    /// <summary>
    /// Where no cgroup gives the cpu controller, run without <see cref="Cpus"/> and say so (the
    /// log's warning) instead of refusing: microbox's default of one CPU is a ceiling, not a need.
    /// </summary>
    public bool CpusIfAvailable { get; init; }

    /// <summary>An existing cgroup directory to create the sandbox's cgroup in (a cgroup v2 directory, or one in a v1 hierarchy).</summary>
    public string? CgroupParent { get; init; }

    /// <summary>Which enforcement backend to use; <see cref="LimitBackend.Auto"/> picks the best one available.</summary>
    public LimitBackend Backend { get; init; } = LimitBackend.Auto;

    /// <summary>Supervise and measure usage even when no limit is set (for a report).</summary>
    public bool MeasureUsage { get; init; }

    /// <summary>True when the run is supervised: some limit is set, a backend is forced, or usage is asked for.</summary>
    public bool IsSupervised => this != None;

    /// <summary>The process cap applied: <see cref="Processes"/>, or <see cref="DefaultProcesses"/>.</summary>
    public int EffectiveProcesses => Processes ?? DefaultProcesses;

    /// <summary>Lists every problem with these limits, each a sentence a user can act on.</summary>
    public ImmutableArray<string> Validate()
    {
        var problems = ImmutableArray.CreateBuilder<string>();
        if (CpuTime is { } cpu && cpu <= TimeSpan.Zero)
            problems.Add("the CPU time limit must be positive");
        if (WallTime is { } wall && wall <= TimeSpan.Zero)
            problems.Add("the wall time limit must be positive");
        if (MemoryBytes is <= 0)
            problems.Add("the memory limit must be positive");
        if (AddressSpaceBytes is <= 0)
            problems.Add("the address space limit must be positive");
        if (Processes is <= 0)
            problems.Add("the process limit must be positive");
        if (OutputBytes is < 0)
            problems.Add("the output limit must not be negative");
        if (OpenFiles is <= 0)
            problems.Add("the open files limit must be positive");
        if (StackBytes is <= 0)
            problems.Add("the stack limit must be positive");
        if (Cpus is { } cpus && (cpus <= 0 || double.IsNaN(cpus) || cpus > 4096))
            problems.Add("the CPU bandwidth must be a positive number of CPUs");
        if (CgroupParent is { } parent && !parent.StartsWith('/'))
            problems.Add($"the cgroup parent must be an absolute path: {parent}");
        if (Cpus is not null && Backend == LimitBackend.Rlimits)
            problems.Add("a CPU bandwidth limit needs a cgroup: drop --cpus or the rlimit backend");
        return problems.ToImmutable();
    }

    /// <summary>The limits as (name, value) pairs in a report's units: seconds, bytes, counts.</summary>
    public IEnumerable<(string Name, double Value)> Applied()
    {
        if (!IsSupervised)
            yield break;
        if (CpuTime is { } cpu)
            yield return ("cpu_time_s", cpu.TotalSeconds);
        if (WallTime is { } wall)
            yield return ("wall_time_s", wall.TotalSeconds);
        if (MemoryBytes is { } mem)
            yield return ("memory_bytes", mem);
        if (AddressSpaceBytes is { } a)
            yield return ("address_space_bytes", a);
        yield return ("processes", EffectiveProcesses);
        if (OutputBytes is { } o)
            yield return ("output_bytes", o);
        if (OpenFiles is { } f)
            yield return ("open_files", f);
        if (StackBytes is { } s)
            yield return ("stack_bytes", s);
        if (Cpus is { } c)
            yield return ("cpus", c);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Join(", ", Applied().Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name}={p.Value}")));
}
