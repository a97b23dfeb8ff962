namespace Husk;

/// <summary>How a <see cref="SandboxPool"/> makes its runs.</summary>
public sealed record SandboxPoolOptions
{
    /// <summary>
    /// Give each run a network namespace of its own, as a cold run of the spec gets (the default).
    /// Set false to let the runs of one template share the template's (loopback only, no route
    /// out): a network namespace costs more to make and to tear down than all the other namespaces
    /// of a run together, but runs at the same time can then reach each other's loopback sockets.
    /// </summary>
    public bool NetworkPerRun { get; init; } = true;
}
