namespace Husk;

/// <summary>How a <see cref="SandboxPool"/> makes its runs.</summary>
public sealed record SandboxPoolOptions
{
    /// <summary>
    /// Give each run a network namespace of its own, as a cold run of the spec gets. By default
    /// the runs of one template share the template's (loopback only, no route out): a run leaves
    /// nothing there once its processes are gone, but runs at the same time can reach each other's
    /// loopback sockets. A network namespace costs more to make and to tear down than all the
    /// other namespaces of a run together.
    /// </summary>
    public bool NetworkPerRun { get; init; }
}
