using System.Runtime.CompilerServices;
using Husk.Launch;
using Husk.Pools;
using static Husk.Interop.Interop;

namespace Husk;

/// <summary>
/// Warm sandboxes for running the same kind of sandbox many times (a judge's tests, a CI step, an
/// agent's commands). For each distinct shape of spec (namespaces, ids, filesystem) the pool
/// prepares a template once: a small process of its own (not a copy of this one), in the
/// sandbox's user namespace with its id maps and the read-only part of its mount tree. Each run is
/// cloned from it into fresh mount, pid, IPC and UTS namespaces and a user namespace of its own,
/// makes every filesystem instance of the spec afresh (tmpfs, /proc, /dev), gets a cgroup and
/// limits of its own, its own standard streams, and the walls the planner gives a cold run of the
/// spec (seccomp, Landlock, capabilities, no_new_privs). Nothing of a run is left for the next: its
/// processes, files, IPC objects and hostname go with its namespaces. Waiting, cancellation,
/// limits, usage and verdicts work as for <see cref="Sandbox"/>.
/// </summary>
/// <remarks>
/// Differences from a cold run: the root of the sandbox's own (the tmpfs its mounts are made on)
/// is read-only to every run, as every run shares it; the runs of a template share its network
/// namespace when <see cref="SandboxPoolOptions.NetworkPerRun"/> is cleared; a spec whose per-run
/// parts need the caller's descriptors or the build's storage (the host overlay, temporary
/// overlays, <c>--sync-fd</c>, <c>--info-fd</c>, joined namespaces) or a network the supervisor
/// serves (nat, bridge, an egress allowlist) is refused with the reason, and so
/// is one that maps a range of ids (a subordinate range, an explicit map): each run's own user
/// namespace maps one id. For a root caller with the default ids the pool maps the one id of
/// root's subordinate range that a cold run's payload is (uid 0 inside, never the host's root),
/// instead of the whole range: chown to other ids fails in a pool's run.
/// The pool plans with the caller's facts as they were when it was made (working directory, home).
/// Reuse a spec object across runs: its plan is kept with it. Thread-safe.
/// </remarks>
public sealed class SandboxPool : IDisposable
{
    private readonly SandboxPoolOptions _options;
    private readonly HostContext _host;
    private readonly ConditionalWeakTable<SandboxSpec, Prepared> _prepared = new();
    private readonly Dictionary<string, Lazy<PoolTemplate>> _templates = [];
    private readonly object _gate = new();
    private bool _disposed;

    /// <summary>A pool with the default options.</summary>
    public SandboxPool()
        : this(new SandboxPoolOptions())
    {
    }

    /// <summary>A pool with <paramref name="options"/>.</summary>
    public SandboxPool(SandboxPoolOptions options)
        : this(options, HostContext.Current())
    {
    }

    internal SandboxPool(SandboxPoolOptions options, HostContext host)
    {
        _options = options;
        _host = host;
    }

    /// <summary>How many templates the pool holds (one per distinct shape of spec run so far).</summary>
    public int TemplateCount
    {
        get
        {
            lock (_gate)
                return _templates.Values.Count(t => t.IsValueCreated && t.Value.IsAlive);
        }
    }

    /// <summary>
    /// Starts <paramref name="spec"/> from its template (prepared on first use) and returns once the
    /// payload has been executed. Throws <see cref="SandboxSpecException"/> for a spec that cannot
    /// run, or cannot run in a pool, and <see cref="SandboxSetupException"/> when setting it up failed.
    /// Dispose the process: a sandbox still running then is killed, and its cgroup removed.
    /// </summary>
    public SandboxProcess Start(SandboxSpec spec)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var prepared = _prepared.GetValue(spec, Prepare);
        var template = TemplateFor(prepared.Split);
        using var stdio = StdioPipes.Create(prepared.Spec, out var withFds);
        int[] payload = [.. withFds.Fds.Select(m => m.HostFd)];
        return Launcher.StartPlanned(prepared.Spec, prepared.Split.Run, _host, null, stdio, null, starter: template.Run(prepared.Image, payload));
    }

    /// <summary>
    /// Runs <paramref name="spec"/> from its template to the end, as <see cref="Sandbox.RunAsync(SandboxSpec, CancellationToken)"/>
    /// does: standard output and error made pipes are captured into the result, a setup failure is
    /// <see cref="Verdict.InternalError"/>, cancellation kills the whole tree.
    /// </summary>
    public Task<SandboxResult> RunAsync(SandboxSpec spec, CancellationToken cancellationToken = default) =>
        Sandbox.RunStartedAsync(spec, () => Start(spec), cancellationToken);

    /// <summary>What a spec's runs need, worked out once: the spec as it runs, its plan divided, the run's plan image.</summary>
    private sealed record Prepared(SandboxSpec Spec, PoolPlan Split, byte[] Image);

    private Prepared Prepare(SandboxSpec spec)
    {
        var subIds = Launcher.SubordinateIdsFor(spec, _host);
        spec = Launcher.Supervised(spec);
        if (PoolPlanner.Check(spec) is { Length: > 0 } problems)
            throw new SandboxSpecException(problems);
        // The descriptors' order is the same for every run of the spec: only their numbers differ.
        SandboxSpec withFds;
        using (StdioPipes.Create(spec, out withFds))
        {
        }
        var cold = SpawnPlanner.Plan(PoolPlanner.AtSlots(withFds), _host, subIds);
        var split = PoolPlanner.Split(cold, spec, _host, _options.NetworkPerRun);
        var image = PlanImage.Build(split.Run, PoolFdBase + PoolPlanner.StatusSlot).Bytes.ToArray();
        return new Prepared(spec, split, image);
    }

    /// <summary>The live template for a plan's key, started (once, whoever asks first) when there is none.</summary>
    private PoolTemplate TemplateFor(PoolPlan split)
    {
        Lazy<PoolTemplate> entry;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_templates.TryGetValue(split.Key, out entry!) || entry.IsValueCreated && !entry.Value.IsAlive)
            {
                if (entry is { IsValueCreated: true })
                    entry.Value.Dispose();
                entry = new Lazy<PoolTemplate>(() => PoolTemplate.Start(split, _host));
                _templates[split.Key] = entry;
            }
        }
        try
        {
            return entry.Value;
        }
        catch
        {
            // A template that failed to start is not kept: the next run tries again.
            lock (_gate)
            {
                if (_templates.TryGetValue(split.Key, out var current) && ReferenceEquals(current, entry))
                    _templates.Remove(split.Key);
            }
            throw;
        }
    }

    /// <summary>Ends every template, and with them every run still going.</summary>
    public void Dispose()
    {
        List<Lazy<PoolTemplate>> templates;
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            templates = [.. _templates.Values];
            _templates.Clear();
        }
        foreach (var t in templates)
        {
            if (t.IsValueCreated)
                t.Value.Dispose();
        }
    }
}
