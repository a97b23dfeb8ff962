using Husk.Launch;

namespace Husk;

/// <summary>Setting up the sandbox failed before the payload ran; names the step and the path.</summary>
public sealed class SandboxSetupException : Exception
{
    internal SandboxSetupException(string message, Errno errno, PlannedOp? op = null, int step = 0, string? option = null)
        : base(message)
    {
        Errno = errno;
        Op = op;
        Step = step;
        Option = option;
    }

    /// <summary>The error the kernel returned.</summary>
    public Errno Errno { get; }

    /// <summary>Which part of starting the sandbox failed.</summary>
    public SandboxSetupStage Stage { get; init; } = SandboxSetupStage.Operation;

    /// <summary>The spec element the failing operation came from (a <see cref="MountOp"/>), if any.</summary>
    public object? Origin => Op?.Origin;

    /// <summary>True when the payload itself could not be executed (not found, not executable).</summary>
    public bool IsExecFailure => Op?.Kind == Interop.Interop.OpKind.Exec;

    internal PlannedOp? Op { get; }

    /// <summary>Which part of the operation failed (Interop.Step).</summary>
    internal int Step { get; }

    /// <summary>For a mount, the option that was refused.</summary>
    public string? Option { get; }

    /// <summary>What the native stage found in the way, when it says: for a symlink, the target of the different one already there.</summary>
    public string? Detail { get; init; }

    /// <summary>What the operation was doing, e.g. "bind mount /etc on /etc".</summary>
    public string? Operation => Op?.Description;
}

/// <summary>The parts of starting a sandbox, in order; front doors word their errors by it.</summary>
public enum SandboxSetupStage
{
    /// <summary>Creating the process and its namespaces (clone3).</summary>
    Clone,
    /// <summary>Writing the new user namespace's id maps.</summary>
    IdMapping,
    /// <summary>Releasing the child to run its operations.</summary>
    Start,
    /// <summary>One of the operations the child runs (the op and step say which).</summary>
    Operation,
}
