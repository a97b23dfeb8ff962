namespace Husk;

/// <summary>The outcome of a sandbox run: how the payload ended, what it used, and the verdict.</summary>
public sealed record SandboxResult
{
    /// <summary>How the payload ended (exit code or signal). Null only for an <see cref="Verdict.InternalError"/> before it ran.</summary>
    public SandboxExit? Exit { get; init; }

    /// <summary>What the whole tree used.</summary>
    public required ResourceUsage Usage { get; init; }

    /// <summary>The verdict against <see cref="Limits"/>.</summary>
    public required Verdict Verdict { get; init; }

    /// <summary>One sentence explaining the verdict ("CPU time 1.02 s exceeded the limit of 1 s").</summary>
    public required string Message { get; init; }

    /// <summary>The limits the run had.</summary>
    public ResourceLimits Limits { get; init; } = ResourceLimits.None;

    /// <summary>The backend that enforced them: "cgroup2", "cgroup1", "rlimit", or "none" when unsupervised.</summary>
    public string Backend { get; init; } = "none";

    /// <summary>Where the backend falls short of the limits asked for, said in words (empty when it does not).</summary>
    public IReadOnlyList<string> BackendNotes { get; init; } = [];

    /// <summary>The supervisor killed the tree because of a limit.</summary>
    public bool KilledBySupervisor { get; init; }

    /// <summary>Standard output captured by <see cref="Sandbox.RunAsync"/> when it was a pipe; null otherwise.</summary>
    public byte[]? StandardOutput { get; init; }

    /// <summary>Standard error captured by <see cref="Sandbox.RunAsync"/> when it was a pipe; null otherwise.</summary>
    public byte[]? StandardError { get; init; }

    /// <summary>What the sandbox did on the network: every DNS question and connection the supervisor saw (the allowlist, user-mode NAT's DNS); null when it saw none (none, host).</summary>
    public NetworkActivity? Network { get; init; }

    /// <summary>
    /// Calls, errors and time per system call of the whole tree, most time first (strace -c's
    /// table), when the spec's <see cref="TraceSpec.Count"/> asked for them; empty otherwise.
    /// </summary>
    public System.Collections.Immutable.ImmutableArray<Tracing.SyscallCount> SyscallCounts { get; init; } = [];

    /// <summary>libsandbox's code for the verdict (OK, TL, ML, OL, RF, RT, AT, IE).</summary>
    public string LibsandboxCode => VerdictCodes.Libsandbox(Verdict, Exit?.Signal);

    /// <summary>isolate's meta status (RE, SG, TO, XX), or null for OK.</summary>
    public string? IsolateStatus => VerdictCodes.Isolate(Verdict, Exit?.Signal);

    /// <summary>The status a shell would report for the payload: its exit code, or 128 + the signal.</summary>
    public int ShellStatus => Exit?.ShellStatus ?? 1;
}
