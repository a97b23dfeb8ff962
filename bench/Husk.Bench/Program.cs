using System.Collections.Immutable;
using System.Diagnostics;
using Husk;

// Library launches: sandboxes per second from one warm process, against spawning bwrap per launch.
// usage: Husk.Bench [seconds-per-measurement] [concurrency]
//        Husk.Bench pool|cold [seconds-per-measurement] [concurrency]   (the pool or cold launches alone, for profiling)
//        Husk.Bench judge [seconds-per-measurement] [concurrency] [path of husk]   (JudgeLoop.cs)
if (args.Length > 0 && args[0] == "judge")
{
    JudgeLoop.Run(args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 5,
        args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : Environment.ProcessorCount,
        args.Length > 3 ? args[3] : null);
    return;
}
// Husk.Bench pool|cold [seconds] [workers]: only the pool's or only cold launches (for profiling one part alone).
bool poolOnly = args.Length > 0 && args[0] == "pool";
bool coldOnly = args.Length > 0 && args[0] == "cold";
if (poolOnly || coldOnly)
    args = args[1..];
double seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
int concurrency = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : Environment.ProcessorCount;

string? bwrap = new[] { "/usr/bin/bwrap", "/usr/local/bin/bwrap" }.FirstOrDefault(File.Exists);
var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}").ToImmutableArray();

// The same isolation as: bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true
var spec = new SandboxSpec
{
    Command = ["/bin/true"],
    Environment = env,
    Namespaces = NamespaceKinds.AllButTime,
    FileSystem = FileSystemSpec.Bare,
    Mounts = [new BindMount("/", "/") { ReadOnly = true }, new DevMount("/dev"), new ProcMount("/proc")],
    // bwrap's walls: no seccomp filter, no Landlock, nested user namespaces left alone.
    Seccomp = SeccompSpec.None,
    Landlock = LandlockSpec.Off,
    NestedUserNamespaces = NestedUserNamespaces.Allow,
    NewSession = false,
};

double Rate(string name, int workers, Action launch) => Measure.Rate(name, workers, seconds, "sandboxes", launch);

void LaunchHusk()
{
    using var p = Sandbox.Start(spec);
    var exit = p.WaitForExit();
    if (exit.ExitCode != 0)
        throw new InvalidOperationException($"husk: /bin/true exited {exit.ShellStatus}");
}

void LaunchBwrap()
{
    var psi = new ProcessStartInfo(bwrap!) { UseShellExecute = false };
    foreach (string a in new[] { "--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "/bin/true" })
        psi.ArgumentList.Add(a);
    using var p = Process.Start(psi)!;
    p.WaitForExit();
    if (p.ExitCode != 0)
        throw new InvalidOperationException($"bwrap exited {p.ExitCode}");
}

if (Environment.GetEnvironmentVariable("HUSK_PHASES") is not null)
{
    var sw0 = new Stopwatch();
    double start = 0, wait = 0;
    for (int i = 0; i < 60; i++)
    {
        sw0.Restart();
        using var p = Sandbox.Start(spec);
        double t1 = sw0.Elapsed.TotalMilliseconds;
        p.WaitForExit();
        double t2 = sw0.Elapsed.TotalMilliseconds;
        if (i >= 10) { start += t1; wait += t2 - t1; }
    }
    Console.WriteLine($"start {start / 50:F2} ms, wait {wait / 50:F2} ms, rss {Environment.WorkingSet / 1048576} MiB");
    return;
}
if (coldOnly)
{
    Measure.Rate("Husk library (Sandbox.Start)", concurrency, seconds, "sandboxes", LaunchHusk, cost: true);
    return;
}
// HUSK_POOL_SHARED_NETWORK=1 with "pool": the runs share the template's network namespace (SandboxPoolOptions.NetworkPerRun = false).
var poolOptions = new SandboxPoolOptions { NetworkPerRun = Environment.GetEnvironmentVariable("HUSK_POOL_SHARED_NETWORK") != "1" };
if (poolOnly)
{
    using var only = new SandboxPool(poolOptions);
    Measure.Rate("Husk pool (SandboxPool.Start)", concurrency, seconds, "sandboxes", () =>
    {
        using var p = only.Start(spec);
        if (p.WaitForExit().ExitCode != 0)
            throw new InvalidOperationException("husk pool: /bin/true failed");
    }, cost: true);
    return;
}
Console.WriteLine($"library launches, {seconds} s each, {Environment.ProcessorCount} cores, uid {Environment.UserName}");
double huskSerial = Rate("Husk library (Sandbox.Start)", 1, LaunchHusk);
double huskParallel = Rate("Husk library (Sandbox.Start)", concurrency, LaunchHusk);
// Warm: the same spec from a pool's template (prepared by the first launch, outside the measurement).
using var pool = new SandboxPool();
// One launch of the spec from pool, checked.
Action FromPool(SandboxPool from, string what) => () =>
{
    using var p = from.Start(spec);
    var exit = p.WaitForExit();
    if (exit.ExitCode != 0)
        throw new InvalidOperationException($"husk {what}: /bin/true exited {exit.ShellStatus}");
};
var LaunchPooled = FromPool(pool, "pool");
double poolSerial = Measure.Rate("Husk pool (SandboxPool.Start)", 1, seconds, "sandboxes", LaunchPooled, cost: true);
double poolParallel = Measure.Rate("Husk pool (SandboxPool.Start)", concurrency, seconds, "sandboxes", LaunchPooled, cost: true);
// The same with the runs sharing the template's network namespace (loopback only): the dearest
// namespace is made once, at the price of runs at the same time reaching each other's loopback.
using var sharedPool = new SandboxPool(new SandboxPoolOptions { NetworkPerRun = false });
var LaunchShared = FromPool(sharedPool, "pool, shared network");
double sharedSerial = Measure.Rate("Husk pool, NetworkPerRun = false", 1, seconds, "sandboxes", LaunchShared, cost: true);
double sharedParallel = Measure.Rate("Husk pool, NetworkPerRun = false", concurrency, seconds, "sandboxes", LaunchShared, cost: true);
if (bwrap is null)
{
    Console.WriteLine("bwrap not found: install Debian's bubblewrap for the comparison");
    return;
}
double bwrapSerial = Rate($"spawning {bwrap} per launch", 1, LaunchBwrap);
double bwrapParallel = Rate($"spawning {bwrap} per launch", concurrency, LaunchBwrap);
Console.WriteLine($"ratio (Husk / bwrap), 1 worker:  {huskSerial / bwrapSerial:F2}x");
Console.WriteLine($"ratio (Husk / bwrap), {concurrency} workers: {huskParallel / bwrapParallel:F2}x");
Console.WriteLine($"ratio (pool / bwrap), 1 worker:  {poolSerial / bwrapSerial:F2}x");
Console.WriteLine($"ratio (pool / bwrap), {concurrency} workers: {poolParallel / bwrapParallel:F2}x");
Console.WriteLine($"ratio (pool, shared network / bwrap), 1 worker:  {sharedSerial / bwrapSerial:F2}x");
Console.WriteLine($"ratio (pool, shared network / bwrap), {concurrency} workers: {sharedParallel / bwrapParallel:F2}x");
