using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>One operation for the native stage, still in managed form (so the planner stays pure and testable).</summary>
internal sealed class PlannedOp
{
    public PlannedOp(uint kind, string description)
    {
        Kind = kind;
        Description = description;
    }

    public uint Kind { get; }
    public uint Flags { get; init; }
    public int Fd { get; init; } = -1;
    public uint Mode { get; init; }
    public ulong A { get; init; }
    public ulong B { get; init; }
    public ulong C { get; init; }
    public string? S1 { get; init; }
    public string? S2 { get; init; }

    /// <summary>Raw bytes passed as p1 (file data, BPF, mount options block).</summary>
    public byte[]? Data { get; init; }
    /// <summary>A NULL-terminated string array passed as p1 (argv, chdir candidates).</summary>
    public string[]? Strings { get; init; }
    /// <summary>A NULL-terminated string array passed as p2 (envp, PWD values).</summary>
    public string[]? Strings2 { get; init; }
    /// <summary>An int32 array passed as p1 (fds husk-init keeps).</summary>
    public int[]? Ints { get; init; }
    public HuskCaps? Caps { get; init; }
    /// <summary>For chdir: index of the PWD entry in the exec op's envp, which the child points at the directory chosen.</summary>
    public int EnvSlot { get; init; } = -1;

    /// <summary>Mount options as "key=value", for naming the one that failed.</summary>
    public string[]? OptionDescriptions { get; init; }

    /// <summary>What this op does, for error messages ("bind /etc on /etc").</summary>
    public string Description { get; }
    /// <summary>The spec element this op came from (a MountOp, or null for setup steps).</summary>
    public object? Origin { get; init; }

    /// <summary>A copy with more flags set.</summary>
    public PlannedOp WithFlags(uint flags) => new(Kind, Description)
    {
        Flags = Flags | flags, Fd = Fd, Mode = Mode, A = A, B = B, C = C, S1 = S1, S2 = S2, Data = Data, Strings = Strings,
        Strings2 = Strings2, Ints = Ints, Caps = Caps, EnvSlot = EnvSlot, OptionDescriptions = OptionDescriptions, Origin = Origin,
    };

    public override string ToString() => $"{Description} [{Kind}]";
}
