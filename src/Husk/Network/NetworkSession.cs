using System.Net.Sockets;
using Husk.Interop;

namespace Husk.Network;

/// <summary>
/// The supervisor's side of one sandbox's network while it runs: the NAT helper or the bridge's
/// veth set up before the child goes on, the sockets the child made in its namespace (the
/// resolver, the capture listener, the UDP relay, conntrack's netlink), the DNS responder, the
/// TCP splice and the UDP relay serving them, and the log. Disposing it stops everything and releases what it held (nothing outlives the sandbox).
/// </summary>
internal sealed class NetworkSession : IDisposable
{
    private readonly NetworkPlan _plan;
    private readonly NetworkLog _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<IDisposable> _owned = [];
    private readonly List<Task> _servers = [];
    private readonly FakeAddressPool _pool = new();
    private readonly DnsResponder _dns;
    private readonly EgressProxy? _proxy;
    private readonly UdpRelay? _udp;
    private HelperProcess? _helper;
    private Action _kill = () => { };
    private int _disposed;

    public NetworkSession(NetworkPlan plan)
    {
        _plan = plan;
        var spec = plan.Spec;
        _log = new NetworkLog(spec.LogFile);
        IUpstreamResolver upstream = spec.DnsUpstream is { } server ? new DnsServerResolver(server) : new SystemResolver();
        EgressPolicy? policy = spec.Filter
            ? new EgressPolicy(spec.Rules, spec.DefaultAction, new ProtectedAddresses(plan.HostAddresses, plan.Gateways), spec.MaxConnections)
            : null;
        _dns = new DnsResponder(policy, _pool, upstream, _log);
        if (policy is not null)
            _proxy = new EgressProxy(policy, _pool, _dns, _log, () => _kill());
        if (policy is not null && spec.RelaysUdp)
            _udp = new UdpRelay(policy, _pool, _dns, _log, () => _kill());
    }

    /// <summary>Starts a session for <paramref name="plan"/> when its network needs the supervisor; null otherwise.</summary>
    public static NetworkSession? For(NetworkPlan? plan)
    {
        if (plan is null || !plan.NeedsSession)
            return null;
        try
        {
            return new NetworkSession(plan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SandboxSetupException($"--net-log {plan.Spec.LogFile}: {ErrorText.Detail(e, plan.Spec.LogFile ?? "")}", Errno.EIO) { Stage = SandboxSetupStage.Start, RoleOverride = SetupRole.NetworkHelper };
        }
    }

    /// <summary>What kills the whole sandbox (a <see cref="EgressAction.Kill"/> rule matched).</summary>
    public void OnKill(Action kill) => _kill = kill;

    /// <summary>Before the cloned child goes on: the NAT helper joins its namespace, or the bridge's veth moves there.</summary>
    public void Attach(int childPid)
    {
        if (_plan.Nat is { } nat)
            _helper = UserModeNat.Start(nat, _plan.Spec, childPid);
        else if (_plan.Bridge is { } lease)
            Bridge.MoveIntoNamespace(lease, childPid);
    }

    /// <summary>A socket the child made in the sandbox's namespace (ownership passes to the session).</summary>
    public void Receive(SocketRole role, SafeFd fd)
    {
        if (role == SocketRole.Conntrack)
        {
            var conntrack = new Conntrack(fd);
            lock (_sockets)
                _owned.Add(conntrack);
            _udp?.Use(conntrack);
            return;
        }
        var socket = new Socket(new SafeSocketHandle(fd.DangerousGetHandle(), ownsHandle: true));
        fd.SetHandleAsInvalid();
        lock (_sockets)
            _sockets.Add(socket);
        var ct = _stop.Token;
        _servers.Add(role switch
        {
            SocketRole.DnsUdp => Task.Run(() => DnsServer.ServeUdpAsync(socket, _dns, ct)),
            SocketRole.DnsTcp => Task.Run(() => DnsServer.ServeTcpAsync(socket, _dns, ct)),
            SocketRole.UdpCapture => Task.Run(() => _udp!.ServeAsync(socket, ct)),
            _ => Task.Run(() => _proxy!.ServeAsync(socket, ct)),
        });
    }

    /// <summary>
    /// Once the sandbox has exited: waits for pasta to pass on what the sandbox sent to clients of
    /// its published ports, and briefly for the connections and flows it left to end and be logged.
    /// </summary>
    public void Finish()
    {
        if (_helper is not null && _plan.Nat?.Kind == NatHelperKind.Pasta)
            UserModeNat.Drain(_plan.Spec.Publish);
        _proxy?.DrainAsync(TimeSpan.FromSeconds(2)).Wait();
        _udp?.StopAsync().Wait(TimeSpan.FromSeconds(2));
    }

    /// <summary>What the sandbox did on the network so far.</summary>
    public NetworkActivity Activity() => new() { Mode = _plan.ModeName, Helper = _helper?.Name, Events = _log.Events };

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stop.Cancel();
        lock (_sockets)
        {
            foreach (var s in _sockets)
                s.Dispose();
            foreach (var o in _owned)
                o.Dispose();
        }
        _helper?.Dispose();
        if (_plan.Bridge is { } lease)
            Bridge.Release(lease);
        _log.Dispose();
        _stop.Dispose();
    }
}
