using System.Collections.Immutable;

namespace Husk;

/// <summary>How much Landlock confines the payload.</summary>
public enum LandlockMode
{
    /// <summary><see cref="On"/>, or <see cref="Off"/> when nested sandboxes are allowed (Landlock forbids mounting).</summary>
    Auto,
    /// <summary>No Landlock.</summary>
    Off,
    /// <summary>Filesystem rules that mirror the mounts (writes only where a mount is writable), and scoping; what the kernel's ABI lacks is left out.</summary>
    On,
    /// <summary>As <see cref="On"/>, and W^X (nothing executes where the sandbox can write), no TCP unless ports are given, and every ABI feature or failure.</summary>
    Strict,
}

/// <summary>
/// The payload's Landlock confinement as intent: the planner derives the rules from the final
/// mount list, so a spec changed with <c>with</c> (a bind added) gets the rules that fit it.
/// </summary>
public sealed record LandlockSpec
{
    /// <summary>The mode.</summary>
    public LandlockMode Mode { get; init; }
    /// <summary>TCP ports the payload may bind; once any port is given (or in strict mode), other ports are refused.</summary>
    public ImmutableArray<ushort> TcpBind { get; init; } = [];
    /// <summary>TCP ports the payload may connect to; once any port is given (or in strict mode), other ports are refused.</summary>
    public ImmutableArray<ushort> TcpConnect { get; init; } = [];
    /// <summary>Rules given as they are, instead of derived from the mounts (a low-level escape hatch).</summary>
    public Policy.LandlockPolicy? Explicit { get; init; }

    /// <summary>The default: on, or off where nested sandboxes are allowed.</summary>
    public static LandlockSpec Default { get; } = new();
    /// <summary>No Landlock.</summary>
    public static LandlockSpec Off { get; } = new() { Mode = LandlockMode.Off };
    /// <summary>Exactly these rules.</summary>
    public static LandlockSpec Rules(Policy.LandlockPolicy policy) => new() { Explicit = policy };
}
