using Husk.Launch;

namespace Husk;

/// <summary>
/// Setting up the sandbox failed before the payload ran. The message is one sentence without a
/// program's name (a front door adds its own); the properties say the same as typed data — the
/// stage, the operation's <see cref="Role"/>, the <see cref="Step"/>, the error and the paths — so
/// a front door can word the failure its own way.
/// </summary>
public sealed class SandboxSetupException : Exception
{
    internal SandboxSetupException(string message, Errno errno, PlannedOp? op = null, SetupStep step = SetupStep.None, string? option = null)
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

    /// <summary>What the failing operation was for (<see cref="SetupRole.None"/> outside the operations).</summary>
    public SetupRole Role => _role ?? Op?.Role ?? SetupRole.None;

    /// <summary>The role of a failure outside the operations (writing an id map).</summary>
    internal SetupRole? RoleOverride { init => _role = value; }
    private readonly SetupRole? _role;

    /// <summary>Which one of its role the operation was in the plan (the n-th temporary overlay).</summary>
    public int Index => Op?.Index ?? 0;

    /// <summary>Which part of the operation failed.</summary>
    public SetupStep Step { get; }

    /// <summary>The path in the sandbox the operation worked on (its destination), if any.</summary>
    public string? Path => Op?.S2;

    /// <summary>The operation's source (a host path for a bind), if any.</summary>
    public string? SourcePath => Op?.S1;

    /// <summary>The spec's filesystem operation the failing one came from, if any.</summary>
    public MountOp? Origin => Op?.Origin;

    /// <summary>True when the payload itself could not be executed (not found, not executable).</summary>
    public bool IsExecFailure => Op?.Kind == Interop.Interop.OpKind.Exec;

    internal PlannedOp? Op { get; }

    /// <summary>For a mount, the option that was refused ("upperdir=/x").</summary>
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
