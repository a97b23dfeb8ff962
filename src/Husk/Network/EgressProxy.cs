using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>
/// The sandbox's only way out for TCP: its namespace redirects every connection (nftables) to the
/// supervisor's listener there; the supervisor reads where it was going (SO_ORIGINAL_DST), maps a
/// fake address back to its name, decides, and connects from the host's network to the real
/// destination, splicing the two. A refused connection is reset.
/// </summary>
internal sealed class EgressProxy(EgressPolicy policy, FakeAddressPool pool, DnsResponder dns, NetworkLog log, Action kill)
{
    private const int SO_ORIGINAL_DST = 80;
    private const int SOL_IP = 0, SOL_IPV6 = 41;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);
    private const int BufferSize = 256 * 1024;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _inflight = new();

    /// <summary>Waits (at most <paramref name="timeout"/>) for the connections still being served to end and be logged.</summary>
    public Task DrainAsync(TimeSpan timeout) => Task.WhenAny(Task.WhenAll(_inflight.Keys), Task.Delay(timeout));

    private readonly System.Collections.Concurrent.ConcurrentQueue<Socket> _listeners = InitListeners(policy);

    /// <summary>
    /// The capture listeners, closed once a budget of connections is spent: later connections are
    /// refused before their handshake (nothing answers the redirect), as minitap refuses them,
    /// rather than accepted and reset.
    /// </summary>
    private static System.Collections.Concurrent.ConcurrentQueue<Socket> InitListeners(EgressPolicy policy)
    {
        var listeners = new System.Collections.Concurrent.ConcurrentQueue<Socket>();
        policy.Spent += () =>
        {
            while (listeners.TryDequeue(out var l))
                l.Dispose();
        };
        return listeners;
    }

    /// <summary>Accepts and serves connections on <paramref name="listener"/> until <paramref name="ct"/> is cancelled or it is closed.</summary>
    public Task ServeAsync(Socket listener, CancellationToken ct)
    {
        if (policy.HasBudget)
        {
            // One connection at most waits to be accepted (and counted): a connection made in
            // the meantime is not let through its handshake, and its retry finds the budget.
            try
            {
                listener.Listen(0);
            }
            catch (SocketException)
            {
            }
        }
        _listeners.Enqueue(listener);
        if (policy.BudgetSpent)
        {
            while (_listeners.TryDequeue(out var l))
                l.Dispose();
        }
        return Serve(listener, ct);
    }

    private Task Serve(Socket listener, CancellationToken ct) => Listeners.AcceptUntilClosedAsync(listener, client =>
    {
        // A budget counts every connection as it is accepted, before anything else (minitap counts
        // it at its first packet), so that the last one closes the listeners before another comes.
        if (!policy.TakeConnection(out string? spent))
        {
            Refuse(client, DateTimeOffset.UtcNow, null, OriginalDestination(client), spent!);
            return;
        }
        var task = Task.Run(() => HandleAsync(client, ct), CancellationToken.None);
        _inflight[task] = 0;
        _ = task.ContinueWith(t => _inflight.TryRemove(t, out _), TaskScheduler.Default);
    }, ct);

    /// <summary>Where a redirected connection was going, or null for one that was not redirected.</summary>
    internal static IPEndPoint? OriginalDestination(Socket client)
    {
        Span<byte> sa = stackalloc byte[28];
        bool v6 = client.AddressFamily == AddressFamily.InterNetworkV6;
        int n;
        try
        {
            n = client.GetRawSocketOption(v6 ? SOL_IPV6 : SOL_IP, SO_ORIGINAL_DST, sa);
        }
        catch (SocketException)
        {
            return null;
        }
        return ParseSockaddr(sa[..n]);
    }

    /// <summary>A sockaddr_in or sockaddr_in6 as the kernel lays them out.</summary>
    internal static IPEndPoint? ParseSockaddr(ReadOnlySpan<byte> sa)
    {
        if (sa.Length < 8)
            return null;
        ushort family = BitConverter.ToUInt16(sa);
        int port = BinaryPrimitives.ReadUInt16BigEndian(sa[2..]);
        if (family == 2)
            return new IPEndPoint(new IPAddress(sa.Slice(4, 4)), port);
        if (family == 10 && sa.Length >= 24)
            return new IPEndPoint(new IPAddress(sa.Slice(8, 16)), port);
        return null;
    }

    private async Task HandleAsync(Socket client, CancellationToken ct)
    {
        var time = DateTimeOffset.UtcNow;
        var dst = OriginalDestination(client);
        // A connection made to the listener itself has its own address as its original destination.
        if (dst is null || dst.Equals(client.LocalEndPoint))
        {
            Refuse(client, time, null, dst, "not a redirected connection");
            return;
        }
        var route = await EgressRoute.DecideAsync(policy, pool, dns, dst, NetworkProtocol.Tcp, ct).ConfigureAwait(false);
        if (route.Allowed.Count == 0)
        {
            Refuse(client, time, route.Name, route.Destination, route.Reason, route.Action == EgressAction.Kill ? "killed" : "refused");
            if (route.Action == EgressAction.Kill)
                kill();
            return;
        }

        Socket? upstream = null;
        IPEndPoint? target = null;
        string? failure = null;
        foreach (var address in route.Allowed)
        {
            target = new IPEndPoint(address, dst.Port);
            var s = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ConnectTimeout);
            try
            {
                await s.ConnectAsync(target, timeout.Token).ConfigureAwait(false);
                upstream = s;
                break;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                failure = e is SocketException se ? $"connecting failed: {se.SocketErrorCode}" : "connecting timed out";
                s.Dispose();
            }
        }
        if (upstream is null)
        {
            Refuse(client, time, route.Name, target, failure!, NetworkLog.VerdictOf(route.Action));
            return;
        }
        client.NoDelay = true;
        var (sent, received) = await SpliceAsync(client, upstream, ct).ConfigureAwait(false);
        log.Add(new NetworkEvent
        {
            Time = time, Protocol = "tcp", Name = route.Name, Address = target!.Address.ToString(), Port = target.Port,
            Verdict = NetworkLog.VerdictOf(route.Action), Reason = route.Reason, BytesSent = sent, BytesReceived = received,
        });
    }

    private void Refuse(Socket client, DateTimeOffset time, string? name, IPEndPoint? dst, string reason, string verdict = "refused")
    {
        Reset(client);
        log.Add(new NetworkEvent { Time = time, Protocol = "tcp", Name = name, Address = dst?.Address.ToString(), Port = dst?.Port, Verdict = verdict, Reason = reason });
    }

    /// <summary>Closes with a reset, so the payload sees its connection refused rather than ended.</summary>
    private static void Reset(Socket s)
    {
        try
        {
            s.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
        s.Dispose();
    }

    /// <summary>Copies both ways until both sides have ended; an error on either ends both. Returns the bytes each way.</summary>
    internal static async Task<(long Sent, long Received)> SpliceAsync(Socket inside, Socket outside, CancellationToken ct)
    {
        using (inside)
        using (outside)
        {
            var up = PumpAsync(inside, outside, ct);
            var down = PumpAsync(outside, inside, ct);
            await Task.WhenAll(up, down).ConfigureAwait(false);
            return (up.Result, down.Result);
        }
    }

    private static async Task<long> PumpAsync(Socket from, Socket to, CancellationToken ct)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long total = 0;
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
                if (n == 0)
                    break;
                int off = 0;
                while (off < n)
                    off += await to.SendAsync(buffer.AsMemory(off, n - off), SocketFlags.None, ct).ConfigureAwait(false);
                total += n;
            }
            try
            {
                to.Shutdown(SocketShutdown.Send);
            }
            catch (SocketException)
            {
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // One side failed or the run ended: reset both, so neither waits for the other.
            Reset(from);
            Reset(to);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return total;
    }
}
