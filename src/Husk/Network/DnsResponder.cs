using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>
/// The sandbox's only resolver. A name the policy does not let through gets NXDOMAIN and no
/// resolver is asked (nothing leaks through DNS); a name it lets through is resolved upstream from
/// the host's network, and answered with a fake address of the name's own (A and AAAA only;
/// other types get an empty answer), so a connection to that address tells the supervisor the
/// name. The real addresses are kept for the connection. With <see cref="Forward"/> (user-mode
/// NAT, no allowlist) names are answered with their real addresses instead, and only logged.
/// </summary>
internal sealed class DnsResponder(EgressPolicy? policy, FakeAddressPool pool, IUpstreamResolver upstream, NetworkLog log)
{
    /// <summary>How long the sandbox may keep an answer: fake addresses never change during a run.</summary>
    public const uint FakeTtl = 300;

    private readonly ConcurrentDictionary<(string, AddressFamily), IReadOnlyList<IPAddress>> _real = new();

    /// <summary>Answer with the real addresses, without a policy (user-mode NAT's DNS).</summary>
    public bool Forward => policy is null;

    /// <summary>The real addresses behind a name, as resolved when it was asked for (empty when never asked).</summary>
    public IReadOnlyList<IPAddress> RealAddresses(string name, AddressFamily family) =>
        _real.TryGetValue((name, family), out var list) ? list : [];

    /// <summary>Resolves a name again (a connection to a fake address whose answer was not kept).</summary>
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string name, AddressFamily family, CancellationToken ct)
    {
        var answer = await upstream.ResolveAsync(name, family, ct).ConfigureAwait(false);
        if (answer.Addresses.Count > 0)
            _real[(name, family)] = answer.Addresses;
        return answer.Addresses;
    }

    /// <summary>The answer to one query from <paramref name="peer"/> (null: unknown), or null when nothing should be sent back.</summary>
    public async Task<byte[]?> AnswerAsync(ReadOnlyMemory<byte> message, int? pid, CancellationToken ct, EndPoint? peer = null)
    {
        var query = DnsMessage.Parse(message.Span);
        if (query is null)
            return DnsMessage.FormatError(message.Span);
        if (query.IsResponse)
            return null;
        if (query.Opcode != 0 || query.Class != 1)
            return DnsMessage.Answer(query, DnsRcode.NotImp, [], 0);
        string name = query.Name;
        var decision = policy?.DecideName(name);
        if (name.Length == 0 || decision is { Action: EgressAction.Refuse })
        {
            Log(name, pid, "refused", name.Length == 0 ? "the root name" : decision!.Reason);
            return DnsMessage.Answer(query, DnsRcode.NxDomain, [], 0);
        }
        if (policy is not null && !policy.TakeDnsFlow(peer, out string? spent))
        {
            Log(name, pid, "refused", spent);
            return DnsMessage.Answer(query, DnsRcode.NxDomain, [], 0);
        }
        if (query.Type is not (DnsType.A or DnsType.Aaaa))
        {
            // MX, TXT, HTTPS, SVCB...: nothing that could carry a way out.
            return DnsMessage.Answer(query, DnsRcode.NoError, [], 0);
        }
        var family = query.Type == DnsType.A ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        var answer = await upstream.ResolveAsync(name, family, ct).ConfigureAwait(false);
        string verdict = decision is null ? "allowed" : NetworkLog.VerdictOf(decision.Action);
        if (answer.Rcode != DnsRcode.NoError || answer.Addresses.Count == 0)
        {
            Log(name, pid, verdict, answer.Rcode == DnsRcode.NxDomain ? "no such name upstream" : answer.Rcode == DnsRcode.NoError ? $"no {(query.Type == DnsType.A ? "A" : "AAAA")} record upstream" : "the upstream resolver failed");
            return DnsMessage.Answer(query, answer.Rcode, [], 0);
        }
        _real[(name, family)] = answer.Addresses;
        Log(name, pid, verdict, decision?.Reason, string.Join(' ', answer.Addresses));
        if (Forward)
            return DnsMessage.Answer(query, DnsRcode.NoError, answer.Addresses, 60);
        return DnsMessage.Answer(query, DnsRcode.NoError, [pool.AddressOf(name, family)], FakeTtl);
    }

    private void Log(string name, int? pid, string verdict, string? reason, string? addresses = null) =>
        log.Add(new NetworkEvent { Time = DateTimeOffset.UtcNow, Pid = pid, Protocol = "dns", Name = name, Address = addresses, Port = 53, Verdict = verdict, Reason = reason });
}
