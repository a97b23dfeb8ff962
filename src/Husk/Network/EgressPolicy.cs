using System.Net;

namespace Husk.Network;


/// <summary>A decision on one flow or one name: the action, the rule that gave it (none: the default), and why.</summary>
internal sealed record EgressDecision(EgressAction Action, EgressRule? Rule, string Reason)
{
    /// <summary>The flow may go ahead (allowed or logged).</summary>
    public bool Allowed => Action is EgressAction.Allow or EgressAction.Log;
}

/// <summary>
/// The allowlist's decision function, pure: names are decided by name rules, addresses by address
/// rules; the most specific matching rule wins (an exact name over a wildcard, a longer prefix
/// over a shorter one, a rule with ports over one without; the first given on a tie), and what no
/// rule matches gets the default (refused for <c>husk run</c>, logged for mbox's profiles).
/// Protected destinations (<see cref="ProtectedAddresses"/>) are refused unless the deciding rule
/// opens them. A literal address is decided by address rules alone, even when an allowed name
/// happens to resolve to it. A budget of connections (<see cref="NetworkSpec.MaxConnections"/>)
/// is the one piece of state: the connections taken so far.
/// </summary>
internal sealed class EgressPolicy(IReadOnlyList<EgressRule> rules, EgressAction defaultAction, ProtectedAddresses protectedAddresses, int? maxConnections = null)
{
    private int _taken;

    public IReadOnlyList<EgressRule> Rules { get; } = rules;

    public EgressAction Default { get; } = defaultAction;

    public ProtectedAddresses Protected { get; } = protectedAddresses;

    /// <summary>
    /// Whether the DNS responder answers <paramref name="name"/> (with a fake address): a name rule
    /// for some port lets it through, a refusing one or a refusing default gives NXDOMAIN without
    /// asking any resolver.
    /// </summary>
    public EgressDecision DecideName(string name)
    {
        if (BudgetSpent)
            return new EgressDecision(EgressAction.Refuse, null, BudgetSpentReason(maxConnections!.Value));
        var rule = Best(Rules.Where(r => r.MatchesName(name)));
        if (rule is not null)
            return new EgressDecision(rule.Action == EgressAction.Kill ? EgressAction.Kill : rule.Action, rule, $"name rule {rule.Text}");
        return new EgressDecision(Default, null, Default is EgressAction.Refuse ? "no rule allows this name" : "no rule names it");
    }

    /// <summary>
    /// A connection to <paramref name="address"/>:<paramref name="port"/>, reached through the name
    /// <paramref name="name"/> (a fake address the responder gave) or literally (null).
    /// </summary>
    public EgressDecision Decide(string? name, IPAddress address, int port, NetworkProtocol protocol)
    {
        if (address.IsIPv4MappedToIPv6)
            address = address.MapToIPv4();
        EgressRule? rule = null;
        bool byName = false;
        if (name is not null)
        {
            rule = Best(Rules.Where(r => r.MatchesName(name) && r.MatchesPort(port) && r.MatchesProtocol(protocol)));
            byName = rule is not null;
        }
        rule ??= Best(Rules.Where(r => r.MatchesAddress(address) && r.MatchesPort(port) && r.MatchesProtocol(protocol)));
        var action = rule?.Action ?? Default;
        if (action is EgressAction.Refuse or EgressAction.Kill)
            return new EgressDecision(action, rule, rule is null ? NoRule(name, port, protocol) : $"refused by {rule.Text}");
        if (Protected.Why(address) is { } why)
        {
            // Opened by the deciding rule (an exact name, or an address rule inside the block), or
            // by an address rule inside the block that allows this destination too.
            bool opened = rule is not null && (byName ? rule.Kind == EgressRuleKind.Name : Protected.Opens(rule.Block, address))
                || Rules.Any(r => r.Kind == EgressRuleKind.Address && r.Action is EgressAction.Allow or EgressAction.Log
                                  && r.MatchesAddress(address) && r.MatchesPort(port) && r.MatchesProtocol(protocol) && Protected.Opens(r.Block, address));
            if (!opened)
                return new EgressDecision(EgressAction.Refuse, rule, $"{address} is {why}: a rule must name it");
        }
        return new EgressDecision(action, rule, rule is null ? "no rule names it" : $"allowed by {rule.Text}");
    }

    private static string NoRule(string? name, int port, NetworkProtocol protocol)
    {
        string where = protocol == NetworkProtocol.Udp ? $"UDP port {port}" : $"port {port}";
        return name is null ? $"no address rule allows {where} there" : $"no rule allows {name} on {where}";
    }

    /// <summary>
    /// Takes one connection of the budget for a connection as it is accepted (whatever the rules
    /// then say of it); false (and the reason) once it is spent. Without a budget every one may go.
    /// </summary>
    public bool TakeConnection(out string? refusal)
    {
        refusal = null;
        if (maxConnections is not { } budget)
            return true;
        int taken = Interlocked.Increment(ref _taken);
        if (taken == budget)
            Spent?.Invoke();
        if (taken <= budget)
            return true;
        refusal = BudgetSpentReason(budget);
        return false;
    }

    /// <summary>Raised once, when the last connection of the budget is taken.</summary>
    public event Action? Spent;

    /// <summary>A budget of connections is set (<see cref="NetworkSpec.MaxConnections"/>).</summary>
    public bool HasBudget => maxConnections is not null;

    /// <summary>A budget of connections is set and spent: nothing more may leave.</summary>
    public bool BudgetSpent => maxConnections is { } budget && Volatile.Read(ref _taken) >= budget;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<EndPoint, byte> _dnsFlows = new();

    /// <summary>
    /// With a budget, a name's answer: each new source of questions (a socket of the sandbox, which
    /// minitap's network stack counts as a flow like any other) takes one connection.
    /// </summary>
    public bool TakeDnsFlow(EndPoint? peer, out string? refusal)
    {
        refusal = null;
        if (maxConnections is null || peer is null || !_dnsFlows.TryAdd(peer, 0))
            return true;
        return TakeConnection(out refusal);
    }

    private static string BudgetSpentReason(int budget) => $"the sandbox's budget of {budget} connection{(budget == 1 ? "" : "s")} is spent";

    private static EgressRule? Best(IEnumerable<EgressRule> candidates)
    {
        EgressRule? best = null;
        foreach (var r in candidates)
        {
            if (best is null || r.Specificity > best.Specificity)
                best = r;
        }
        return best;
    }
}
