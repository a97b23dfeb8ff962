using System.Diagnostics;
using Husk;

/// <summary>
/// A judge's inner loop (HUSK_POOL_ONLY=1: only the pool's, for profiling): run a trivial submission with limits (a cgroup of its own where the caller
/// may have one) and collect its usage and verdict, through the library from one warm process;
/// against spawning bwrap (no limits at all) and <c>husk run</c> (with the same limits and a JSON
/// report) once per test case. Prints rates and the ratios; never fails on a slow result.
/// </summary>
internal static class JudgeLoop
{
    public static void Run(double seconds, int workers, string? husk)
    {
        string? bwrap = new[] { "/usr/bin/bwrap", "/usr/local/bin/bwrap" }.FirstOrDefault(File.Exists);
        // bwrap's isolation (--unshare-all --ro-bind / / --dev /dev --proc /proc) plus a judge's limits.
        var plain = new SandboxSpec
        {
            Command = ["/bin/true"],
            Environment = [.. Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}")],
            Namespaces = NamespaceKinds.AllButTime,
            FileSystem = FileSystemSpec.Bare,
            Mounts = [new BindMount("/", "/") { ReadOnly = true }, new DevMount("/dev"), new ProcMount("/proc")],
            // bwrap's walls: no seccomp filter, no Landlock, nested user namespaces left alone.
            Seccomp = SeccompSpec.None,
            Landlock = LandlockSpec.Off,
            NestedUserNamespaces = NestedUserNamespaces.Allow,
            NewSession = false,
        };
        var limits = new ResourceLimits
        {
            CpuTime = TimeSpan.FromSeconds(1), WallTime = TimeSpan.FromSeconds(5), MemoryBytes = 64 << 20, Processes = 8, OutputBytes = 1 << 20,
        };
        var spec = plain with { Limits = limits, StandardOutput = StdioMode.Pipe, StandardError = StdioMode.Pipe };
        string backend = Sandbox.RunAsync(spec).GetAwaiter().GetResult().Backend;
        if (Environment.GetEnvironmentVariable("HUSK_PHASES") is not null)
        {
            // Where a test's time goes: each variant's mean latency, serially.
            void Phase(string name, Action run)
            {
                for (int i = 0; i < 5; i++)
                    run();
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < 40; i++)
                    run();
                Console.WriteLine($"{name,-36} {sw.Elapsed.TotalMilliseconds / 40:F2} ms");
            }
            Phase("Start + WaitForExit, no limits", () => { using var p = Sandbox.Start(plain); p.WaitForExit(); });
            Phase("RunAsync, no limits", () => Judge(plain));
            Phase("RunAsync, measured", () => Judge(plain with { Limits = new ResourceLimits { MeasureUsage = true } }));
            Phase("RunAsync, limits", () => Judge(plain with { Limits = limits }));
            Phase("RunAsync, limits and pipes", () => Judge(spec));
            return;
        }
        Console.WriteLine($"judge loop, {seconds} s each, {Environment.ProcessorCount} cores, uid {Environment.UserName}, limit backend {backend}");
        if (Environment.GetEnvironmentVariable("HUSK_POOL_ONLY") is not null)
        {
            // Only the pool's judge loop, for profiling one part alone.
            using var only = new SandboxPool();
            Measure.Rate("Husk pool (RunAsync, limits, usage)", workers, seconds, "tests", () => Judge(spec, only), cost: true);
            return;
        }

        double library1 = Measure.Rate("Husk library (RunAsync, limits, usage)", 1, seconds, "tests", () => Judge(spec));
        double libraryN = Measure.Rate("Husk library (RunAsync, limits, usage)", workers, seconds, "tests", () => Judge(spec));
        // Warm: each test from a pool's template (prepared by the warm-up, outside the measurement).
        using var pool = new SandboxPool();
        double pool1 = Measure.Rate("Husk pool (RunAsync, limits, usage)", 1, seconds, "tests", () => Judge(spec, pool), cost: true);
        double poolN = Measure.Rate("Husk pool (RunAsync, limits, usage)", workers, seconds, "tests", () => Judge(spec, pool), cost: true);
        double? bwrap1 = null, bwrapN = null;
        if (bwrap is not null)
        {
            string[] args = ["--unshare-all", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "/bin/true"];
            bwrap1 = Measure.Rate($"spawning {bwrap} per test (no limits)", 1, seconds, "tests", () => Spawn(bwrap, args));
            bwrapN = Measure.Rate($"spawning {bwrap} per test (no limits)", workers, seconds, "tests", () => Spawn(bwrap, args));
        }
        if (husk is not null)
        {
            string[] args = ["run", "--fs", "host", "--readonly", "--time-limit", "1s", "--wall-time", "5s", "--memory", "64M", "--pids", "8",
                "--output-limit", "1M", "--report", "/dev/null", "--", "/bin/true"];
            Measure.Rate($"spawning husk run per test (limits, report)", 1, seconds, "tests", () => Spawn(husk, args));
            Measure.Rate($"spawning husk run per test (limits, report)", workers, seconds, "tests", () => Spawn(husk, args));
        }
        if (bwrap1 is { } b1 && bwrapN is { } bn)
        {
            Console.WriteLine($"ratio (library judge loop / bwrap), 1 worker:  {library1 / b1:F2}x");
            Console.WriteLine($"ratio (library judge loop / bwrap), {workers} workers: {libraryN / bn:F2}x");
            Console.WriteLine($"ratio (pool judge loop / bwrap), 1 worker:  {pool1 / b1:F2}x");
            Console.WriteLine($"ratio (pool judge loop / bwrap), {workers} workers: {poolN / bn:F2}x");
        }
        else
        {
            Console.WriteLine("bwrap not found: install Debian's bubblewrap for the comparison");
        }
    }

    private static void Judge(SandboxSpec spec, SandboxPool? pool = null)
    {
        var result = (pool is null ? Sandbox.RunAsync(spec) : pool.RunAsync(spec)).GetAwaiter().GetResult();
        if (result.Verdict != Verdict.OK)
            throw new InvalidOperationException($"husk: {result.Verdict}: {result.Message}");
    }

    private static void Spawn(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{file} exited {p.ExitCode}");
    }
}
