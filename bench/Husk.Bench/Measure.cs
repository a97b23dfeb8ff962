/// <summary>How many launches per second some workers manage, printed as one line.</summary>
internal static class Measure
{
    public static double Rate(string name, int workers, double seconds, string unit, Action launch)
    {
        for (int i = 0; i < 5; i++)
            launch(); // warm up
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
        return rate;
    }
}
