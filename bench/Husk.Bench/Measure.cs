/// <summary>How many launches per second some workers manage, printed as one line.</summary>
internal static class Measure
{
    /// <summary>How long each measurement first runs unmeasured (HUSK_BENCH_WARMUP seconds, default 4).</summary>
    private static readonly TimeSpan WarmUp = TimeSpan.FromSeconds(
        double.TryParse(Environment.GetEnvironmentVariable("HUSK_BENCH_WARMUP"), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double s) ? s : 4);

    /// <param name="name">What is measured.</param>
    /// <param name="workers">Threads launching at once.</param>
    /// <param name="seconds">How long.</param>
    /// <param name="unit">What one launch is.</param>
    /// <param name="launch">One launch, to its end.</param>
    /// <param name="cost">Also print this process's CPU time per thousand launches and its RSS (the host's cost of the supervisor).</param>
    public static double Rate(string name, int workers, double seconds, string unit, Action launch, bool cost = false)
    {
        // Warm up to the steady state a long-running caller (a judge) is in: the JIT's tiers
        // recompile the hot paths over the first 3-5 seconds (measured with perf: the tiering thread
        // took a third of the CPU in the first seconds, none after 5), which would otherwise be counted.
        var warm = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 5 || warm.Elapsed < WarmUp; i++)
            launch();
        var cpuBefore = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
        long count = 0;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var threads = Enumerable.Range(0, workers).Select(_ => new Thread(() =>
        {
            while (sw.Elapsed.TotalSeconds < seconds)
            {
                launch();
                Interlocked.Increment(ref count);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        double rate = count / sw.Elapsed.TotalSeconds;
        Console.WriteLine($"{name,-48} {workers} worker(s)  {rate,8:F1} {unit}/s  ({count} in {sw.Elapsed.TotalSeconds:F1} s)");
        if (cost)
        {
            double cpu = (System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
            Console.WriteLine($"{"",-48} host cost: this process {cpu * 1000 / count:F2} s CPU per 1000 {unit}, RSS {Environment.WorkingSet >> 20} MiB");
        }
        return rate;
    }
}
