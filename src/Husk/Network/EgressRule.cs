using System.Globalization;
using System.Net;

namespace Husk;

/// <summary>What an egress rule does with a connection it matches.</summary>
public enum EgressAction
{
    /// <summary>Let it through.</summary>
    Allow,
    /// <summary>Let it through; front doors that summarise (mbox) list it.</summary>
    Log,
    /// <summary>Refuse it (the connection is reset, a name gets NXDOMAIN).</summary>
    Refuse,
    /// <summary>Refuse it and kill the whole sandbox (mbox's <c>kill:</c>).</summary>
    Kill,
}

/// <summary>What an egress rule matches on.</summary>
public enum EgressRuleKind
{
    /// <summary>Exactly one host name (<c>example.com</c>).</summary>
    Name,
    /// <summary>Every name below a domain, not the domain itself (<c>*.example.com</c>).</summary>
    Wildcard,
    /// <summary>An IPv4 or IPv6 address or block (<c>10.0.0.0/8</c>, <c>[2001:db8::]/32</c>).</summary>
    Address,
}

/// <summary>
/// One rule of the egress allowlist (<c>--allow-host RULE</c>): an exact name, a wildcard
/// (<c>*.example.com</c>, subdomains only), an IPv4 or IPv6 address, or a CIDR block of either
/// family, each with an optional <c>:PORT</c> or <c>:LOW-HIGH</c>, then an optional <c>/tcp</c> or
/// <c>/udp</c> (as <c>--publish</c> writes it; without one the rule applies to both). IPv6 takes
/// brackets when a port follows (<c>[2001:db8::1]:443</c>, <c>[2001:db8::]/32:443/udp</c>).
/// </summary>
public sealed record EgressRule
{
    /// <summary>What the rule matches on.</summary>
    public required EgressRuleKind Kind { get; init; }
    /// <summary>The name, lower case without a final dot; for a wildcard, the domain below which names match.</summary>
    public string? Name { get; init; }
    /// <summary>The first address of the block (<see cref="EgressRuleKind.Address"/>).</summary>
    public IPAddress? Address { get; init; }
    /// <summary>The block's prefix length in its family (32 or 128 for one address).</summary>
    public int PrefixLength { get; init; }
    /// <summary>The lowest port matched; 0 with <see cref="HighPort"/> 0: every port.</summary>
    public ushort LowPort { get; init; }
    /// <summary>The highest port matched.</summary>
    public ushort HighPort { get; init; }
    /// <summary>The one transport the rule applies to (<c>/tcp</c>, <c>/udp</c>); null: both.</summary>
    public NetworkProtocol? Protocol { get; init; }
    /// <summary>What a match does (an allowlist's rules allow).</summary>
    public EgressAction Action { get; init; }
    /// <summary>The rule as written.</summary>
    public required string Text { get; init; }

    /// <summary>Whether the rule names ports (otherwise every port).</summary>
    public bool HasPorts => HighPort != 0;

    internal Husk.Network.IpNetwork Block => Husk.Network.IpNetwork.Of(Address!, PrefixLength);

    /// <summary>Parses a rule; throws <see cref="FormatException"/> whose message says what is wrong.</summary>
    public static EgressRule Parse(string text) =>
        TryParse(text, out var rule, out string? error) ? rule! : throw new FormatException(error);

    /// <summary>Parses a rule; false with a reason a user can act on when it is not one.</summary>
    public static bool TryParse(string text, out EgressRule? rule, out string? error)
    {
        rule = null;
        string t = text.Trim();
        if (t.Length == 0)
        {
            error = "an empty rule: give a name, an address or a CIDR block";
            return false;
        }
        NetworkProtocol? protocol = null;
        if (t.EndsWith("/tcp", StringComparison.OrdinalIgnoreCase) || t.EndsWith("/udp", StringComparison.OrdinalIgnoreCase))
        {
            protocol = t.EndsWith("/udp", StringComparison.OrdinalIgnoreCase) ? NetworkProtocol.Udp : NetworkProtocol.Tcp;
            t = t[..^4];
            if (t.Length == 0)
            {
                error = "a protocol without a destination: give a name, an address or a CIDR block before /tcp or /udp";
                return false;
            }
        }
        string host;
        string? ports = null;
        if (t[0] == '[')
        {
            // [v6], [v6]/len, [v6/len], each optionally followed by :PORT
            int close = t.IndexOf(']');
            if (close < 0)
            {
                error = "an IPv6 address opened with '[' is not closed with ']'";
                return false;
            }
            host = t[1..close];
            string rest = t[(close + 1)..];
            if (rest.StartsWith('/'))
            {
                int colon = rest.IndexOf(':');
                host += colon < 0 ? rest : rest[..colon];
                rest = colon < 0 ? "" : rest[colon..];
            }
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    error = $"unexpected '{rest}' after the address: a port follows as :PORT or :LOW-HIGH";
                    return false;
                }
                ports = rest[1..];
            }
            if (!host.Contains(':'))
            {
                error = $"brackets are for IPv6 addresses: {host}";
                return false;
            }
        }
        else if (t.Count(c => c == ':') > 1)
        {
            host = t; // IPv6 without a port
        }
        else
        {
            int colon = t.IndexOf(':');
            host = colon < 0 ? t : t[..colon];
            ports = colon < 0 ? null : t[(colon + 1)..];
        }

        ushort low = 0, high = 0;
        if (ports is not null && !TryParsePorts(ports, out low, out high, out error))
            return false;

        if (host.Contains('/') || host.Contains(':') || LooksNumeric(host))
        {
            if (!Husk.Network.IpNetwork.TryParse(host, out var net, out error))
                return false;
            rule = new EgressRule { Kind = EgressRuleKind.Address, Address = net.Address, PrefixLength = net.PrefixLength, LowPort = low, HighPort = high, Protocol = protocol, Text = text.Trim() };
            return true;
        }
        bool wildcard = host.StartsWith("*.", StringComparison.Ordinal);
        string name = (wildcard ? host[2..] : host).TrimEnd('.').ToLowerInvariant();
        if (!IsHostName(name, out error))
            return false;
        rule = new EgressRule { Kind = wildcard ? EgressRuleKind.Wildcard : EgressRuleKind.Name, Name = name, LowPort = low, HighPort = high, Protocol = protocol, Text = text.Trim() };
        return true;
    }

    private static bool LooksNumeric(string host) => host.Length > 0 && host.All(c => char.IsAsciiDigit(c) || c == '.');

    private static bool TryParsePorts(string text, out ushort low, out ushort high, out string? error)
    {
        low = high = 0;
        int dash = text.IndexOf('-');
        string a = dash < 0 ? text : text[..dash], b = dash < 0 ? text : text[(dash + 1)..];
        if (!TryPort(a, out low) || !TryPort(b, out high))
        {
            error = $"not a port or port range (1 to 65535, LOW-HIGH): {text}";
            return false;
        }
        if (low > high)
        {
            error = $"the port range runs backwards: {text}";
            return false;
        }
        error = null;
        return true;
    }

    private static bool TryPort(string s, out ushort port) =>
        ushort.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port > 0 && s.Length <= 5;

    /// <summary>Labels of letters, digits, '-' and '_', joined by dots; at most 253 characters.</summary>
    internal static bool IsHostName(string name, out string? error)
    {
        error = null;
        if (name.Length is 0 or > 253)
        {
            error = name.Length == 0 ? "an empty host name" : "a host name longer than 253 characters";
            return false;
        }
        foreach (string label in name.Split('.'))
        {
            if (label.Length is 0 or > 63 || label.StartsWith('-') || label.EndsWith('-')
                || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                error = name.Contains('*')
                    ? $"a wildcard is '*.' before a domain (subdomains only): {name}"
                    : $"not a host name, an address or a CIDR block: {name}";
                return false;
            }
        }
        return true;
    }

    /// <summary>Whether the rule's ports include <paramref name="port"/>.</summary>
    public bool MatchesPort(int port) => !HasPorts || (port >= LowPort && port <= HighPort);

    /// <summary>Whether the rule applies to <paramref name="protocol"/>.</summary>
    public bool MatchesProtocol(NetworkProtocol protocol) => Protocol is null || Protocol == protocol;

    /// <summary>Whether the rule matches the host name <paramref name="name"/> (any port).</summary>
    public bool MatchesName(string name) => Kind switch
    {
        EgressRuleKind.Name => string.Equals(name, Name, StringComparison.OrdinalIgnoreCase),
        EgressRuleKind.Wildcard => name.Length > Name!.Length + 1 && name.EndsWith("." + Name, StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    /// <summary>Whether the rule matches the address <paramref name="address"/> (any port).</summary>
    public bool MatchesAddress(IPAddress address) =>
        Kind == EgressRuleKind.Address && Block.IsIPv4 == (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork || address.IsIPv4MappedToIPv6)
        && Block.Contains(address);

    /// <summary>How specific the rule is, where several match: longer prefixes, exact names, named ports and a named protocol win, in that order.</summary>
    internal int Specificity => Kind switch
    {
        EgressRuleKind.Name => 1000,
        EgressRuleKind.Wildcard => 500 + Name!.Count(c => c == '.'),
        _ => Block.Length,
    } * 4 + (HasPorts ? 2 : 0) + (Protocol is null ? 0 : 1);

    /// <summary>Whether the rule names addresses of the host's loopback (127.0.0.0/8, ::1) and nothing else.</summary>
    internal bool IsHostLoopback => Kind == EgressRuleKind.Address && (Husk.Network.IpNetwork.HostLoopback4.Contains(Block) || Husk.Network.IpNetwork.HostLoopback6.Contains(Block));

    /// <summary>The rule as written.</summary>
    public override string ToString() => Text;
}
