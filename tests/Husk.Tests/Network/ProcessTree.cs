namespace Husk.Tests.Network;

/// <summary>The processes under a husk, read from /proc, and waiting for one to exit through its pidfd.</summary>
internal static class ProcessTree
{
    /// <summary>Every process whose parent is <paramref name="pid"/>, directly or not.</summary>
    public static List<int> Descendants(int pid)
    {
        var all = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(n => int.Parse(n!)).ToList();
        var parents = all.ToDictionary(p => p, p => Parent(p));
        var result = new List<int>();
        var queue = new Queue<int>([pid]);
        while (queue.Count > 0)
        {
            int p = queue.Dequeue();
            foreach (var (child, parent) in parents)
            {
                if (parent == p)
                {
                    result.Add(child);
                    queue.Enqueue(child);
                }
            }
        }
        return result;
    }

    private static int Parent(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return -1;
        }
    }

    public static string? Comm(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/comm").Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Waits for the process behind <paramref name="pidfd"/> to exit (the pidfd turns readable).</summary>
    public static unsafe bool WaitGone(Interop.SafePidfd pidfd, int timeoutMs)
    {
        var pfd = new Interop.Interop.PollFd { Fd = pidfd.Fd, Events = Interop.Interop.POLLIN };
        return Interop.Interop.Poll(&pfd, 1, timeoutMs) == 1;
    }
}
