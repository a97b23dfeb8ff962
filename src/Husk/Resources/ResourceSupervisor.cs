using System.Diagnostics;
using Husk.Launch;
using static Husk.Resources.LimitUnits;

namespace Husk.Resources;

/// <summary>
/// Enforces one sandbox's limits while it runs and measures what its tree used: chooses the
/// backend before the clone (a cgroup of its own, or none), watches wall time, CPU time, memory
/// and output on a timer, kills the tree over a limit (through husk-init, so every process is
/// reaped and counted), and at the end reads the usage, removes the cgroup and gives the verdict.
/// </summary>
internal sealed class ResourceSupervisor : IDisposable
{
    private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan IdleInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MemoryInterval = TimeSpan.FromMilliseconds(10);

    private readonly ResourceLimits _limits;
    private readonly Cgroup? _cgroup;
    private readonly List<string> _notes;
    private readonly object _gate = new();
    private readonly Stopwatch _wall = new();
    private Timer? _timer;
    private Timer? _backstop;
    private SandboxProcess? _process;
    private bool _usesInit;
    private ProcessTree? _tree;
    private (Verdict, string)? _killedFor;
    private long _stdout, _stderr;
    private long _peakMemory;
    private int _peakTasks;
    private TimeSpan _sampledCpu;
    private TimeSpan _cpuBaseline;
    private SandboxResult? _result;
    private readonly List<OutputPipeStream> _streams = [];
    private readonly List<(string Host, string Sandbox)> _layers;
    // File times come from a coarse clock that lags by up to a tick: a little slack.
    private readonly DateTime _since = DateTime.UtcNow - TimeSpan.FromMilliseconds(20);

    private ResourceSupervisor(ResourceLimits limits, Cgroup? cgroup, List<string> notes, List<(string Host, string Sandbox)> layers)
    {
        _limits = limits;
        _cgroup = cgroup;
        _notes = notes;
        _layers = layers;
    }

    public ResourceLimits Limits => _limits;

    /// <summary>"cgroup2", "cgroup1" or "rlimit".</summary>
    public string Backend => _cgroup?.Backend ?? "rlimit";

    /// <summary>Where the backend falls short of what was asked.</summary>
    public IReadOnlyList<string> Notes => _notes;

    internal Cgroup? Cgroup => _cgroup;

    /// <summary>Chooses the backend for <paramref name="spec"/> and creates its cgroup (in the host's cgroupfs, or a test's).</summary>
    /// <param name="spec">The sandbox's spec.</param>
    /// <param name="host">The caller's facts.</param>
    /// <param name="mounts">The sandbox's final mount list, as planned (where its writes can be seen afterwards).</param>
    /// <param name="fs">The cgroup filesystem (null: the host's).</param>
    public static ResourceSupervisor Prepare(SandboxSpec spec, HostContext host, IReadOnlyList<MountOp> mounts, ICgroupFs? fs = null)
    {
        fs ??= HostCgroupFs.Instance;
        var limits = spec.Limits;
        var notes = new List<string>();
        Cgroup? cgroup = limits.Backend switch
        {
            LimitBackend.Rlimits => null,
            LimitBackend.CgroupV2 => CreateV2(fs, limits, host, required: true),
            LimitBackend.CgroupV1 => CreateV1(fs, limits, required: true),
            _ => ChooseAuto(fs, limits, host),
        };
        if (cgroup is null && limits.Cpus is not null && limits.CpusIfAvailable)
        {
            // The best backend for the other limits, without the bandwidth none could give.
            if (limits.Backend == LimitBackend.Auto)
                cgroup = ChooseAuto(fs, limits with { Cpus = null }, host);
            notes.Add($"the CPU bandwidth of {limits.Cpus.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)} CPUs is not enforced: no cgroup with the cpu controller is available here (no delegated cgroup v2 subtree, not root)");
            limits = limits with { Cpus = null };
        }
        if (cgroup is null && limits.Cpus is not null)
            throw new SandboxSetupException("--cpus needs a cgroup with the cpu controller, and none is available here (no delegated cgroup v2 subtree, not root)", Errno.EOPNOTSUPP) { Stage = SandboxSetupStage.Start };
        if (cgroup is not { HasMemory: true })
            notes.Add("memory is the tree's resident memory, sampled from /proc");
        if (cgroup is not { HasPids: true })
            notes.Add(spec.Namespaces.HasFlag(NamespaceKinds.User) || spec.UserNamespaceFd is not null
                ? "processes are capped by RLIMIT_NPROC in the sandbox's user namespace"
                : "processes are not capped: without a user namespace RLIMIT_NPROC would count all of the user's processes");
        if (cgroup is null)
            notes.Add("CPU time is the tree's, sampled from /proc and summed by husk-init at the end");
        return new ResourceSupervisor(limits, cgroup, notes, limits.OutputBytes is null ? [] : CutFiles.Places(mounts));
    }

    /// <summary>
    /// The backend when none was asked for: a v2 hierarchy that gives every controller wanted is
    /// best; v1 as root next; then a v2 one without them (placement, kill, CPU accounting) where it
    /// does what was asked; then none (rlimits and sampling).
    /// </summary>
    internal static Cgroup? ChooseAuto(ICgroupFs fs, ResourceLimits limits, HostContext host)
    {
        if (limits.CgroupParent is { } parent)
        {
            bool v2 = Cgroup.Mounts(fs).Any(m => m.FsType == "cgroup2" && (parent == m.MountPoint || parent.StartsWith(m.MountPoint + "/", StringComparison.Ordinal)));
            return v2 ? CreateV2(fs, limits, host, required: true) : CreateV1(fs, limits, required: true);
        }
        var v2Parent = V2Parent(fs, limits, host, out string? mount);
        var controllers = v2Parent is null ? [] : V2Controllers(fs, v2Parent, mount!);
        if (v2Parent is not null && controllers.IsSupersetOf(["memory", "pids"]) && (limits.Cpus is null || controllers.Contains("cpu")))
            return CreateV2(fs, limits, host, required: false);
        if (host.IsRoot && CreateV1(fs, limits, required: false) is { } v1)
            return v1;
        if (v2Parent is not null && (limits.MemoryBytes is null || controllers.Contains("memory")) && (limits.Cpus is null || controllers.Contains("cpu")))
            return CreateV2(fs, limits, host, required: false);
        return null;
    }

    private static string? V2Parent(ICgroupFs fs, ResourceLimits limits, HostContext host, out string? mount)
    {
        mount = CgroupV2.FindMount(fs);
        return mount is null ? null : CgroupV2.ChooseParent(fs, mount, limits, host.Uid, out _);
    }

    /// <summary>Controllers the children of <paramref name="parent"/> can have (for husk/, not yet made, those of the root).</summary>
    private static HashSet<string> V2Controllers(ICgroupFs fs, string parent, string mount) =>
        CgroupV2.Words(fs, Path.Combine(fs.DirectoryExists(parent) ? parent : mount, "cgroup.controllers"));

    private static Cgroup? CreateV2(ICgroupFs fs, ResourceLimits limits, HostContext host, bool required)
    {
        string? why = null;
        string? mount = CgroupV2.FindMount(fs);
        string? parent = mount is null ? null : CgroupV2.ChooseParent(fs, mount, limits, host.Uid, out why);
        if (mount is null)
            why = "no cgroup v2 hierarchy is mounted";
        if (parent is not null)
        {
            try
            {
                fs.CreateDirectory(parent);
                return CgroupV2.Create(fs, parent, limits);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
            {
                why = ErrorText.Of(e);
            }
        }
        if (required)
            throw new SandboxSetupException($"cgroup v2: {why}", Errno.EOPNOTSUPP) { Stage = SandboxSetupStage.Start };
        return null;
    }

    private static Cgroup? CreateV1(ICgroupFs fs, ResourceLimits limits, bool required)
    {
        var cg = CgroupV1.Create(fs, limits, out string? why);
        if (cg is null && required)
            throw new SandboxSetupException($"cgroup v1: {why}", Errno.EOPNOTSUPP) { Stage = SandboxSetupStage.Start };
        return cg;
    }

    /// <summary>The launch hooks with the cgroup's placement added (CLONE_INTO_CGROUP, or a v1 move before release).</summary>
    public LaunchHooks Hooks(LaunchHooks? inner) => (inner ?? new LaunchHooks()) with
    {
        BeforeRelease = pid =>
        {
            _cgroup?.Attach(pid);
            inner?.BeforeRelease?.Invoke(pid);
        },
        Cgroup = _cgroup?.CloneFd ?? inner?.Cgroup,
    };

    /// <summary>The payload runs: start the clock and the watch.</summary>
    public void Started(SandboxProcess process, bool usesInit)
    {
        lock (_gate)
        {
            _process = process;
            _usesInit = usesInit;
            _tree = new ProcessTree(process.Pid, usesInit);
            if (SamplesMemory)
                _peakMemory = _tree.QuickPeak();
            // The stage's setup (mounts, maps) ran in the cgroup too: only what follows is the payload's.
            _cpuBaseline = _cgroup?.ReadTotalCpu() ?? TimeSpan.Zero;
            _wall.Start();
            _timer = new Timer(_ => Tick(), null, Next(TimeSpan.Zero), Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>When to look next: at the wall limit, before the CPU time can run out, often while memory is sampled.</summary>
    private TimeSpan Next(TimeSpan cpu)
    {
        var next = IdleInterval;
        if (_limits.WallTime is { } wall)
            next = Min(next, wall - _wall.Elapsed);
        if (_limits.CpuTime is { } limit)
            next = Min(next, (limit - cpu) / Math.Max(1, Environment.ProcessorCount));
        if (SamplesMemory && _limits.MemoryBytes is not null)
            next = Min(next, MemoryInterval);
        // Short runs are sampled too: often at first, less often as the run goes on.
        if (SamplesMemory)
            next = Min(next, _wall.Elapsed / 4);
        return next < MinInterval ? MinInterval : next;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>Without a memory controller the supervisor measures memory itself.</summary>
    private bool SamplesMemory => _cgroup is not { HasMemory: true };

    private void Tick()
    {
        ProcessTree tree;
        lock (_gate)
        {
            if (_result is not null || _killedFor is not null || _tree is null)
                return;
            tree = _tree;
        }
        var started = Stopwatch.GetTimestamp();
        TimeSpan cpu = TimeSpan.Zero;
        try
        {
            if (_limits.WallTime is { } wall && _wall.Elapsed >= wall)
            {
                Exceeded(Verdict.WallTimeLimit, $"wall time exceeded the limit of {FormatDuration(wall)}");
                return;
            }
            if (_cgroup is not null)
            {
                var stats = _cgroup.Read();
                cpu = (stats.Total ?? TimeSpan.Zero) - _cpuBaseline;
                if (stats.OomKills > 0 && _limits.MemoryBytes is { } m)
                {
                    Exceeded(Verdict.MemoryLimit, $"the OOM killer ended the tree at the memory limit of {FormatSize(m)}");
                    return;
                }
            }
            if (SamplesMemory || _cgroup is null || !_cgroup.HasPids)
            {
                var s = tree.Sample();
                if (Environment.GetEnvironmentVariable("HUSK_DEBUG_SAMPLES") is not null)
                    Console.Error.WriteLine($"sample {_wall.Elapsed.TotalMilliseconds:F0} ms, cost {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F1} ms: {s}");
                lock (_gate)
                {
                    _peakMemory = Math.Max(_peakMemory, Math.Max(s.Memory, s.LargestPeak));
                    _peakTasks = Math.Max(_peakTasks, s.Tasks);
                    _sampledCpu = s.Cpu > _sampledCpu ? s.Cpu : _sampledCpu;
                }
                if (_cgroup is null)
                    cpu = s.Cpu;
                if (SamplesMemory && _limits.MemoryBytes is { } mem && s.Memory > mem)
                {
                    Exceeded(Verdict.MemoryLimit, $"memory {FormatSize(s.Memory)} exceeded the limit of {FormatSize(mem)}");
                    return;
                }
            }
            if (_limits.CpuTime is { } limit && cpu >= limit)
            {
                Exceeded(Verdict.TimeLimit, $"CPU time {FormatDuration(cpu)} exceeded the limit of {FormatDuration(limit)}");
                return;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The tree changed under us; look again soon.
        }
        lock (_gate)
        {
            if (_result is not null || _killedFor is not null)
                return;
            // Sampling a large tree costs: never spend more than a fifth of the time on it.
            var cost = Stopwatch.GetElapsedTime(started);
            var next = Next(cpu);
            if (next < cost * 4)
                next = cost * 4;
            _timer?.Change(next, Timeout.InfiniteTimeSpan);
        }
    }

    /// <summary>A pipe of the payload's output whose count the verdict waits for.</summary>
    internal void Track(OutputPipeStream stream)
    {
        lock (_gate)
            _streams.Add(stream);
    }

    /// <summary>Counts output read from the payload's pipes; returns how much of it may pass (the rest is over the limit).</summary>
    public int Account(bool stderr, int bytes)
    {
        long before;
        lock (_gate)
        {
            before = _stdout + _stderr;
            if (stderr)
                _stderr += bytes;
            else
                _stdout += bytes;
        }
        if (_limits.OutputBytes is not { } limit || before + bytes <= limit)
            return bytes;
        Exceeded(Verdict.OutputLimit, $"output exceeded the limit of {FormatSize(limit)}");
        return (int)Math.Max(0, limit - before);
    }

    /// <summary>Records the first limit exceeded and kills the tree.</summary>
    public void Exceeded(Verdict verdict, string message)
    {
        SandboxProcess? process;
        lock (_gate)
        {
            if (_killedFor is not null || _result is not null)
                return;
            _killedFor = (verdict, message);
            process = _process;
        }
        if (process is not null)
            KillTree(process);
    }

    /// <summary>
    /// Ends the tree. husk-init (pid 1) kills and reaps every process, so the tree's usage is
    /// complete; if it has not reported within a second, SIGKILL and the cgroup finish the job.
    /// </summary>
    private void KillTree(SandboxProcess process)
    {
        if (_usesInit)
        {
            process.Signal(Interop.Interop.SignalKillTree);
            lock (_gate)
                _backstop = new Timer(_ => KillNow(process), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        }
        else
        {
            KillNow(process);
        }
    }

    private void KillNow(SandboxProcess process)
    {
        lock (_gate)
        {
            if (_result is not null)
                return;
        }
        _cgroup?.Kill();
        process.Signal(Interop.Interop.Signals.SIGKILL);
    }

    /// <summary>Kills every process of the cgroup (the library's Kill, for trees outside a pid namespace).</summary>
    public void KillCgroup() => _cgroup?.Kill();

    /// <summary>
    /// The payload has ended: stop watching, read the final usage, remove the cgroup, and judge.
    /// </summary>
    public SandboxResult Finish(SandboxExit exit)
    {
        lock (_gate)
        {
            if (_result is not null)
                return _result;
            _wall.Stop();
            _timer?.Dispose();
        }
        // Output still in the pipes counts (a reader drains it once every writer is gone).
        foreach (var stream in _streams.ToArray())
            stream.WaitDrained(TimeSpan.FromSeconds(1));
        lock (_gate)
            _backstop?.Dispose();
        var stats = _cgroup?.Read();
        try
        {
            _cgroup?.Remove();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
        {
            _notes.Add($"the cgroup {_cgroup!.Path} could not be removed: {ErrorText.Reason(e)}");
        }
        // husk-init's RUSAGE_CHILDREN covers every process it reaped, exactly; a cgroup also counts
        // what was never reaped (no husk-init, or it was killed before it could report).
        TimeSpan user = exit.UserTime, system = exit.SystemTime;
        if (!exit.ReapedByInit && stats is { Total: { } whole } cg && whole - _cpuBaseline is var total && total > user + system)
        {
            // user and system of the cgroup, scaled to leave out the setup's share
            double part = whole > TimeSpan.Zero ? total / whole : 1;
            user = (cg.User ?? whole) * part;
            system = (cg.System ?? TimeSpan.Zero) * part;
        }
        else if (!exit.ReapedByInit && _cgroup is null && _sampledCpu > user + system)
        {
            user = _sampledCpu - system;
        }
        long peak;
        int tasks;
        lock (_gate)
        {
            peak = _cgroup is { HasMemory: true } && stats?.MemoryPeak is long p ? Math.Max(p, stats.Value.MemoryCurrent ?? 0) : Math.Max(_peakMemory, ReapedPeak(exit));
            // The payload ran: one process at least, however briefly.
            tasks = Math.Max(1, Math.Max(_peakTasks, stats?.PidsPeak is int pp ? Math.Max(0, pp - (_usesInit ? 1 : 0)) : 0));
        }
        if (peak == 0 && SamplesMemory)
            _notes.Add("the payload ended before its memory could be sampled: peak memory 0 means not measured (its kernel rusage includes Husk's own memory from before the exec, so it cannot stand in)");
        var usage = new ResourceUsage
        {
            UserTime = user,
            SystemTime = system,
            WallTime = _wall.Elapsed,
            PeakMemoryBytes = peak,
            StdoutBytes = Interlocked.Read(ref _stdout),
            StderrBytes = Interlocked.Read(ref _stderr),
            WrittenBytes = exit.WrittenBytes,
            PeakProcesses = tasks,
            OomKilled = stats?.OomKills > 0,
        };
        (Verdict, string)? killedFor;
        lock (_gate)
            killedFor = _killedFor;
        var (verdict, message) = VerdictRules.Decide(exit, _limits, usage, killedFor);
        if (verdict is Verdict.OK or Verdict.RuntimeError && _limits.OutputBytes is { } output && _layers.Count > 0)
        {
            // Not the payload's own SIGXFSZ: a child's, or EFBIG a program handled.
            if (CutFiles.Find(_layers, output, _since, out bool exhausted) is { } cut)
                (verdict, message) = (Verdict.OutputLimit, $"a file went past the size limit of {FormatSize(output)}: {cut}");
            else if (exhausted)
                _notes.Add($"files cut at the output limit were looked for in the first {CutFiles.MaxEntries} entries of the layer only");
        }
        var result = new SandboxResult
        {
            Exit = exit,
            Usage = usage,
            Verdict = verdict,
            Message = message,
            Limits = _limits,
            Backend = Backend,
            BackendNotes = [.. _notes],
            KilledBySupervisor = killedFor is not null,
        };
        lock (_gate)
            _result ??= result;
        return _result;
    }

    /// <summary>
    /// The largest resident set of a reaped process (husk-init's RUSAGE_CHILDREN), where it is the
    /// payload's own: the payload is vforked from the supervisor's memory, and exec keeps that
    /// memory's high-water mark in its ru_maxrss, so only a value above the supervisor's own peak
    /// can be the payload's; 0 otherwise (the samples then tell).
    /// </summary>
    private static long ReapedPeak(SandboxExit exit)
    {
        long own = ProcFile.ReadKeyed("/proc/self/status").GetValueOrDefault("VmHWM") * 1024;
        return own > 0 && exit.MaxResidentBytes > own ? exit.MaxResidentBytes : 0;
    }

    /// <summary>Stops watching and removes the cgroup (a sandbox that never started, or was disposed).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _timer?.Dispose();
            _backstop?.Dispose();
        }
        try
        {
            _cgroup?.Remove();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SyscallException)
        {
        }
    }
}
