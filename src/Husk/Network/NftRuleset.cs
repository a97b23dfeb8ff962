using System.Globalization;
using System.Text;

namespace Husk.Network;

/// <summary>
/// The nftables rules of the allowlist's network namespace, as text for <c>nft -f -</c> (run there
/// by the native stage, with CAP_NET_ADMIN of the sandbox's user namespace, which the payload never
/// holds). Every address is local to the namespace (a local default route), so nothing leaves
/// it but through the supervisor: DNS on port 53, TCP or UDP, to any address but the sandbox's own
/// loopback goes to the supervisor's resolver; every other TCP connection is redirected to the
/// supervisor's capture listener, which reads the original destination (SO_ORIGINAL_DST); UDP
/// that a rule may let through goes to the supervisor's UDP relay on the same port (which asks
/// conntrack where it was going); everything else (other UDP, ICMP) is dropped, so the sender
/// gets EPERM at once. The sandbox's own loopback stays its own, but for the addresses and ports
/// an address rule names there: those mean the host's loopback and go to the supervisor too.
/// </summary>
internal static class NftRuleset
{
    /// <summary>The table's name in the sandbox's namespace.</summary>
    public const string Table = "husk";

    /// <param name="capturePort">The supervisor's TCP listener and UDP relay on 127.0.0.1 and ::1.</param>
    /// <param name="dnsPort">The supervisor's resolver on 127.0.0.1 and ::1, UDP and TCP.</param>
    /// <param name="rules">The allowlist's rules.</param>
    /// <param name="defaultAction">
    /// What no rule matches gets. When it refuses, literal TCP destinations no address rule names
    /// are reset in the kernel (ECONNREFUSED at once) instead of being accepted and then reset by
    /// the supervisor, and only UDP that a rule may let through reaches the relay.
    /// </param>
    public static string Allowlist(int capturePort, int dnsPort, IReadOnlyList<EgressRule> rules, EgressAction defaultAction)
    {
        bool refuses = defaultAction == EgressAction.Refuse;
        bool udp = new NetworkSpec { Filter = true, Rules = [.. rules], DefaultAction = defaultAction }.RelaysUdp;
        // Rules the supervisor must see (it lets through, logs or kills), per transport.
        var seen = rules.Where(r => r.Kind == EgressRuleKind.Address && r.Action != EgressAction.Refuse).ToList();
        var sb = new StringBuilder();
        sb.Append("table inet ").Append(Table).Append(" {\n");
        if (refuses)
        {
            var blocks = Outermost([.. seen.Where(r => r.MatchesProtocol(NetworkProtocol.Tcp)).Select(r => r.Block), IpNetwork.HostLoopback4, IpNetwork.HostLoopback6, FakeAddressPool.V4, FakeAddressPool.V6]);
            sb.Append("\tchain husk_early {\n\t\ttype filter hook output priority -150; policy accept;\n");
            sb.Append("\t\ttcp dport 53 accept\n");
            AppendFamilies(sb, blocks, (family, set) => $"\t\tmeta nfproto {family} {Field(family)} daddr != {set} tcp flags & (syn | ack) == syn reject with tcp reset\n");
            sb.Append("\t}\n");
        }
        sb.Append("\tchain husk_redirect {\n\t\ttype nat hook output priority -100; policy accept;\n");
        // Address rules inside the loopback name the host's: those destinations leave (DNS stays the sandbox's own).
        foreach (var r in rules.Where(r => r.IsHostLoopback))
        {
            if (PortsBut53(r) is not { } ports)
                continue;
            string daddr = $"{Field(r.Block.IsIPv4 ? "ipv4" : "ipv6")} daddr {r.Block}";
            if (r.MatchesProtocol(NetworkProtocol.Tcp))
                sb.Append(CultureInfo.InvariantCulture, $"\t\t{daddr} tcp dport {ports} tcp flags & (syn | ack) == syn redirect to :{capturePort}\n");
            if (udp && r.MatchesProtocol(NetworkProtocol.Udp))
                sb.Append(CultureInfo.InvariantCulture, $"\t\t{daddr} udp dport {ports} redirect to :{capturePort}\n");
        }
        sb.Append("\t\tip daddr 127.0.0.0/8 return\n");
        sb.Append("\t\tip6 daddr ::1 return\n");
        sb.Append("\t\tmeta l4proto { tcp, udp } th dport 53 redirect to :").Append(dnsPort).Append('\n');
        if (udp && refuses)
        {
            var blocks = Outermost([.. seen.Where(r => r.MatchesProtocol(NetworkProtocol.Udp) && !r.IsHostLoopback).Select(r => r.Block), FakeAddressPool.V4, FakeAddressPool.V6]);
            AppendFamilies(sb, blocks, (family, set) => $"\t\tmeta nfproto {family} {Field(family)} daddr {set} meta l4proto udp redirect to :{capturePort}\n");
        }
        else if (udp)
        {
            sb.Append("\t\tmeta l4proto udp redirect to :").Append(capturePort).Append('\n');
        }
        // New connections only: a reset the early chain sent back must reach the payload's socket.
        sb.Append("\t\ttcp flags & (syn | ack) == syn redirect to :").Append(capturePort).Append('\n');
        sb.Append("\t}\n");
        sb.Append("\tchain husk_output {\n\t\ttype filter hook output priority 0; policy drop;\n");
        sb.Append("\t\tip daddr 127.0.0.0/8 accept\n");
        sb.Append("\t\tip6 daddr ::1 accept\n");
        // Every new TCP connection was handed to the supervisor or reset above; replies of redirected flows are established.
        sb.Append("\t\tmeta l4proto tcp accept\n");
        sb.Append("\t\tct state established,related accept\n");
        sb.Append("\t}\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>
    /// The rules of a <c>--net nat</c> namespace served by pasta, which keep from it what Debian's
    /// pasta (passt 0.0~git20230309) gets wrong (docs/internals.md, "pasta's faults"):
    /// <list type="bullet">
    /// <item>It takes the sandbox's IPv6 address from the source of every packet the sandbox sends,
    /// also from the unspecified address <c>::</c> that the kernel sends from while the interface's
    /// link-local address is tentative (duplicate address detection, MLD reports, in the first
    /// second after pasta brings the link up), and sends everything after that to <c>::</c>, which
    /// the sandbox drops: an IPv6 connection whose answer came after such a packet hung. Nothing
    /// else is on the link, so the sandbox loses nothing by not sending them.</item>
    /// <item>It resets a connection whose SYN comes again while its own connect() to the
    /// destination is still pending (the sandbox repeats a SYN after 1 s), with a reset without ACK
    /// that the sandbox's kernel ignores, and starts over on the next repeat: a destination whose
    /// handshake takes 1 s or more (one SYN lost on the way, a neighbour to resolve first) was
    /// never reached. Without the repeats pasta finishes its connect() and answers the first SYN.
    /// Only for connections that leave the namespace (on its loopback a listener with a full
    /// backlog relies on repeats). The first SYN of every connection passes: conntrack confirms a
    /// connection after the output hook has seen its first packet, so only repeats find it
    /// confirmed while no reply has come (conntrack's packet count does not grow with repeated
    /// SYNs, so it cannot tell them).</item>
    /// </list>
    /// </summary>
    public static string PastaGuards() =>
        "table inet " + Table + " {\n" +
        "\tchain husk_pasta {\n\t\ttype filter hook output priority 0; policy accept;\n" +
        "\t\tip6 saddr :: drop\n" +
        "\t\toifname != \"lo\" tcp flags & (syn | ack) == syn ct state new ct status confirmed drop\n" +
        "\t}\n" +
        "}\n";

    /// <summary>The rule's ports without 53 (DNS is the sandbox's resolver's, whatever the address), as nft writes them; null when none is left.</summary>
    internal static string? PortsBut53(EgressRule r)
    {
        int low = r.HasPorts ? r.LowPort : 1, high = r.HasPorts ? r.HighPort : 65535;
        var segments = new List<(int Low, int High)>();
        if (low < 53 || high > 53)
        {
            if (low <= 53 && high >= 53)
            {
                if (low <= 52)
                    segments.Add((low, 52));
                if (high >= 54)
                    segments.Add((54, high));
            }
            else
            {
                segments.Add((low, high));
            }
        }
        var text = segments.Select(s => s.Low == s.High ? s.Low.ToString(CultureInfo.InvariantCulture) : $"{s.Low}-{s.High}").ToList();
        return text.Count switch
        {
            0 => null,
            1 => text[0],
            _ => "{ " + string.Join(", ", text) + " }",
        };
    }

    private static string Field(string family) => family == "ipv4" ? "ip" : "ip6";

    /// <summary>One line per family that has blocks, with the family's blocks as an anonymous set.</summary>
    private static void AppendFamilies(StringBuilder sb, IReadOnlyList<IpNetwork> blocks, Func<string, string, string> line)
    {
        foreach (var (family, v4) in new[] { ("ipv4", true), ("ipv6", false) })
        {
            var mine = blocks.Where(n => n.IsIPv4 == v4).Select(n => n.ToString()).ToList();
            if (mine.Count > 0)
                sb.Append(line(family, "{ " + string.Join(", ", mine) + " }"));
        }
    }

    /// <summary>The blocks that no other block of the list contains (duplicates once).</summary>
    internal static List<IpNetwork> Outermost(IReadOnlyList<IpNetwork> blocks)
    {
        var result = new List<IpNetwork>();
        foreach (var b in blocks.Distinct().OrderBy(b => b.Length))
        {
            if (!result.Any(r => r.Contains(b)))
                result.Add(b);
        }
        return result;
    }
}
