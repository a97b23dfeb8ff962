using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>
/// The allowlist's way out for UDP: the sandbox's namespace redirects the UDP a rule may let
/// through (nftables) to the supervisor's relay socket there. Each flow (one sender address and
/// port in the sandbox) is decided once, from where it was going (asked of conntrack), as a TCP
/// connection is; an allowed flow gets a socket of its own in the host's network, connected to
/// the real destination, and datagrams are copied both ways. Replies leave through the relay
/// socket, and conntrack gives them the original destination back as their source, so the
/// payload's connected socket takes them. A flow ends when neither side sent anything for
/// <see cref="IdleTimeout"/>, or with the sandbox; it is logged then, with its bytes. A refused
/// flow is logged once and its datagrams are dropped.
/// </summary>
internal sealed class UdpRelay(EgressPolicy policy, FakeAddressPool pool, DnsResponder dns, NetworkLog log, Action kill)
{
    /// <summary>How long a flow lives without a datagram either way (conntrack forgets an unanswered one after 30 s).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Flows at once; beyond, new ones are refused (each holds a socket of the supervisor's).</summary>
    public const int MaxFlows = 1024;

    private const int MaxDatagram = 65536;
    private readonly ConcurrentDictionary<IPEndPoint, Flow> _flows = new();
    private Conntrack? _conntrack;

    /// <summary>The namespace's conntrack (its socket comes before the relay's own, so it is known before any datagram).</summary>
    public void Use(Conntrack conntrack) => _conntrack = conntrack;

    /// <summary>Relays the datagrams sent to <paramref name="relay"/> until <paramref name="ct"/> is cancelled or it is closed.</summary>
    public Task ServeAsync(Socket relay, CancellationToken ct) => Listeners.ReceiveUntilClosedAsync(relay, (datagram, sender) =>
    {
        if (!_flows.TryGetValue(sender, out var flow) || flow.Ending)
        {
            flow = Open(relay, sender, ct);
            _flows[sender] = flow;
        }
        flow.Forward(datagram.Span);
    }, ct);

    /// <summary>Ends every flow now (the sandbox is gone) and waits until each is logged.</summary>
    public Task StopAsync()
    {
        var flows = _flows.Values.ToList();
        foreach (var f in flows)
            f.End();
        return Task.WhenAll(flows.Select(f => f.Done));
    }

    private Flow Open(Socket relay, IPEndPoint sender, CancellationToken ct)
    {
        var flow = new Flow(relay, sender, ct);
        flow.Start(_flows.Count >= MaxFlows ? Task.FromResult<Socket?>(RefuseFlow(flow, null, null, $"more than {MaxFlows} UDP flows at once")) : Task.Run(() => ConnectAsync(flow, ct), CancellationToken.None));
        flow.Done = RunAsync(flow);
        return flow;
    }

    /// <summary>Decides the flow and, when it is allowed, opens its socket towards the real destination.</summary>
    private async Task<Socket?> ConnectAsync(Flow flow, CancellationToken ct)
    {
        var relayAt = (IPEndPoint)flow.Relay.LocalEndPoint!;
        var dst = _conntrack?.OriginalDestination(relayAt, flow.Sender, ProtocolType.Udp);
        if (dst is null || dst.Equals(relayAt))
            return RefuseFlow(flow, null, dst, _conntrack is null ? "no conntrack netlink in this kernel: UDP cannot be relayed" : "not a redirected datagram");
        var route = await EgressRoute.DecideAsync(policy, pool, dns, dst, NetworkProtocol.Udp, ct).ConfigureAwait(false);
        flow.Name = route.Name;
        flow.Target = route.Destination;
        flow.Action = route.Action;
        flow.Reason = route.Reason;
        if (route.Allowed.Count == 0)
        {
            RefuseFlow(flow, route.Name, route.Destination, route.Reason, route.Action == EgressAction.Kill ? "killed" : "refused");
            if (route.Action == EgressAction.Kill)
                kill();
            return null;
        }
        var upstream = new Socket(route.Destination.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            upstream.Connect(route.Destination); // no packet: it only fixes the peer, so only its replies come back
            return upstream;
        }
        catch (SocketException e)
        {
            upstream.Dispose();
            return RefuseFlow(flow, route.Name, route.Destination, $"connecting failed: {e.SocketErrorCode}", NetworkLog.VerdictOf(route.Action));
        }
    }

    private Socket? RefuseFlow(Flow flow, string? name, IPEndPoint? dst, string reason, string verdict = "refused")
    {
        flow.Logged = true;
        log.Add(new NetworkEvent { Time = flow.Time, Protocol = "udp", Name = name, Address = dst?.Address.ToString(), Port = dst?.Port, Verdict = verdict, Reason = reason });
        return null;
    }

    /// <summary>The flow's life: replies copied back until it ends; then its socket goes and it is logged.</summary>
    private async Task RunAsync(Flow flow)
    {
        Socket? upstream = null;
        try
        {
            upstream = await flow.Upstream.ConfigureAwait(false);
            if (upstream is not null)
                await flow.CopyRepliesAsync(upstream).ConfigureAwait(false);
            else
                await flow.EndedAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            flow.Dispose();
            upstream?.Dispose();
            _flows.TryRemove(new KeyValuePair<IPEndPoint, Flow>(flow.Sender, flow));
            if (!flow.Logged)
            {
                log.Add(new NetworkEvent
                {
                    Time = flow.Time, Protocol = "udp", Name = flow.Name, Address = flow.Target?.Address.ToString(), Port = flow.Target?.Port,
                    Verdict = NetworkLog.VerdictOf(flow.Action), Reason = flow.Reason,
                    BytesSent = Interlocked.Read(ref flow.Sent), BytesReceived = Interlocked.Read(ref flow.Received),
                });
            }
        }
    }

    /// <summary>One sender's flow: its decision, its socket towards the destination, its bytes and its idle timer.</summary>
    private sealed class Flow(Socket relay, IPEndPoint sender, CancellationToken sessionEnds) : IDisposable
    {
        private readonly CancellationTokenSource _idle = CancellationTokenSource.CreateLinkedTokenSource(sessionEnds);
        public long Sent, Received;

        public Socket Relay { get; } = relay;
        public IPEndPoint Sender { get; } = sender;
        public DateTimeOffset Time { get; } = DateTimeOffset.UtcNow;
        public Task<Socket?> Upstream { get; private set; } = Task.FromResult<Socket?>(null);
        public Task Done { get; set; } = Task.CompletedTask;
        public string? Name { get; set; }
        public IPEndPoint? Target { get; set; }
        public EgressAction Action { get; set; } = EgressAction.Refuse;
        public string? Reason { get; set; }
        public bool Logged { get; set; }

        /// <summary>The flow has timed out or been ended: a new datagram of its sender begins a new one.</summary>
        public bool Ending => _idle.IsCancellationRequested;

        public void Start(Task<Socket?> upstream)
        {
            Upstream = upstream;
            Touch();
        }

        /// <summary>Something went either way: the idle timer starts again.</summary>
        private void Touch()
        {
            try
            {
                _idle.CancelAfter(IdleTimeout);
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void End()
        {
            try
            {
                _idle.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>A datagram from the sender: on to the destination once the flow is allowed (dropped when refused).</summary>
        public void Forward(ReadOnlySpan<byte> datagram)
        {
            Touch();
            if (Upstream.IsCompletedSuccessfully)
            {
                Send(Upstream.Result, datagram);
                return;
            }
            byte[] copy = datagram.ToArray();
            _ = Upstream.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                    Send(t.Result, copy);
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        private void Send(Socket? upstream, ReadOnlySpan<byte> datagram)
        {
            if (upstream is null || Ending)
                return;
            try
            {
                upstream.Send(datagram);
                Interlocked.Add(ref Sent, datagram.Length);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // UDP: a datagram the destination did not take (port unreachable) is lost, as it would be
            }
        }

        public async Task CopyRepliesAsync(Socket upstream)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxDatagram);
            try
            {
                while (true)
                {
                    int n;
                    try
                    {
                        n = await upstream.ReceiveAsync(buffer, SocketFlags.None, _idle.Token).ConfigureAwait(false);
                    }
                    catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
                    {
                        continue; // an ICMP error for an earlier datagram
                    }
                    Touch();
                    await Relay.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, Sender, _idle.Token).ConfigureAwait(false);
                    Interlocked.Add(ref Received, n);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        public Task EndedAsync() => Task.Delay(Timeout.Infinite, _idle.Token);

        public void Dispose()
        {
            End();
            _idle.Dispose();
        }
    }
}
