using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// Who clones a launch's child when it is not the native stage on a spawn thread here: a pool's
/// template (<see cref="Pools.PoolTemplate"/>), or the caller that goes on in the sandbox
/// (<see cref="ContinuingLaunch"/>). The launcher serves the child the same way whoever cloned
/// it: the hello, the ids, the hooks, the release, the reports.
/// </summary>
internal abstract class ChildStarter
{
    /// <summary>
    /// True when the child is not the supervisor's own: it cannot be waited for here, so its end
    /// comes from the status pipe alone (its parent writes it there when it reaps it).
    /// </summary>
    public abstract bool Adopted { get; }

    /// <summary>Whether the launch needs a status pipe (always, for an adopted child).</summary>
    public abstract bool WantsStatus(SpawnPlan plan);

    /// <summary>
    /// Starts the child on the channel's <paramref name="childEnd"/> with the status pipe's
    /// <paramref name="statusWrite"/> end, and closes both here once the child's parent has them.
    /// <paramref name="channel"/> is the supervisor's end, which a child that inherits it closes.
    /// The task gives the clone's result (the pid in the parent's pid namespace, and a pidfd).
    /// </summary>
    public abstract Task<SpawnResult> Start(SpawnPlan plan, HostContext host, LaunchHooks? hooks, SafeFd channel, SafeFd childEnd, SafeFd? statusWrite);
}
