namespace Husk.Cli.Personalities.MiniSandbox;

/// <summary>
/// mini-tapbox's firewall (minitap's firewall.go at 68c2571) as Husk's egress allowlist. minitap
/// lets everything through when no line of the -F file was a rule, and otherwise only connections to
/// a listed IPv4 address or to an address a listed name resolved to, and DNS questions for the
/// listed names alone (exactly those names, no subdomains). Its subnets never matched anything (it
/// took them for names); here they are the CIDR blocks they say. A rule that names nothing minitap
/// could match (an address Go refuses such as 999.1.1.1 or 010.1.1.1, a "name" such as 1.2.3)
/// allows nothing, as there, but still turns the filter on.
/// </summary>
internal static class MiniTapboxRules
{
    /// <summary>
    /// The sandbox's network for mini-tapbox's rules (<see cref="MiniSandboxArguments.Allowed"/>), or
    /// for libmini-tapbox's budget of connections, which replaces them: minitap lets the first
    /// <paramref name="maxConnections"/> connections through wherever they go, and DNS questions
    /// while some are left.
    /// </summary>
    public static NetworkSpec Network(IReadOnlyList<string> allowed, int? maxConnections = null) =>
        maxConnections is { } budget
            ? new NetworkSpec { Filter = true, DefaultAction = EgressAction.Allow, MaxConnections = budget }
            : allowed.Count == 0
            // No rule: minitap passes every connection and question; Husk's supervisor still carries
            // them (one network stack), and the host's own, private and loopback addresses stay closed.
            ? new NetworkSpec { Filter = true, DefaultAction = EgressAction.Allow }
            : new NetworkSpec { Filter = true, DefaultAction = EgressAction.Refuse, Rules = [.. allowed.Select(ToEgressRule).OfType<EgressRule>()] };

    /// <summary>One rule of the -F file as an allowlist rule; null for one that matches nothing in minitap.</summary>
    internal static EgressRule? ToEgressRule(string line)
    {
        string? kind = MiniSandboxArguments.RuleKind(line);
        if (kind is null)
            return null;
        if (kind is "ipv4" or "subnet")
        {
            string address = kind == "subnet" ? line[..line.IndexOf('/')] : line;
            // Go's net.ParseIP: four decimal octets up to 255, no leading zeros; else minitap looked it up as a name, in vain.
            if (address.Split('.').Any(o => o.Length > 1 && o[0] == '0'))
                return null;
        }
        else if (line.All(c => char.IsAsciiDigit(c) || c == '.'))
        {
            // A "domain" of digits and dots (1.2.3) is no name a resolver answers.
            return null;
        }
        return EgressRule.TryParse(line, out var rule, out _) && (kind == "domain") == (rule!.Kind == EgressRuleKind.Name) ? rule : null;
    }
}
