using System.Globalization;

namespace Husk.Network;

/// <summary>A TCP socket of the supervisor's network namespace as /proc/net/tcp and tcp6 show it.</summary>
internal readonly record struct TcpSocket(int LocalPort, int RemotePort, int State, long TransmitQueue, long ReceiveQueue, long Inode)
{
    public const int Established = 0x01, CloseWait = 0x08, Listen = 0x0A;
}

/// <summary>
/// The TCP sockets of the supervisor's network namespace (the host's), read from /proc/net/tcp and
/// /proc/net/tcp6. The NAT helper's end of a connection to a published port is there (its local
/// port the published one), readable although the helper itself is not (pasta is not dumpable).
/// </summary>
internal static class TcpTable
{
    /// <summary>Every TCP socket of this namespace, both families.</summary>
    public static IReadOnlyList<TcpSocket> Read() => [.. Parse(ReadLines("/proc/net/tcp")), .. Parse(ReadLines("/proc/net/tcp6"))];

    /// <summary>The sockets of one table's lines (the heading line and malformed lines are skipped).</summary>
    internal static IEnumerable<TcpSocket> Parse(IEnumerable<string> lines)
    {
        foreach (string line in lines)
        {
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 10 || !f[0].EndsWith(':'))
                continue;
            string[] queues = f[4].Split(':');
            if (Port(f[1]) is not { } local || Port(f[2]) is not { } remote || queues.Length != 2
                || !int.TryParse(f[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int state)
                || !long.TryParse(queues[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long tx)
                || !long.TryParse(queues[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long rx)
                || !long.TryParse(f[9], NumberStyles.None, CultureInfo.InvariantCulture, out long inode))
                continue;
            yield return new TcpSocket(local, remote, state, tx, rx, inode);
        }
    }

    private static int? Port(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        return colon >= 0 && int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int port) ? port : null;
    }

    private static IEnumerable<string> ReadLines(string path)
    {
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
