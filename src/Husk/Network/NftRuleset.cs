using System.Text;

namespace Husk.Network;

/// <summary>
/// The nftables rules of the allowlist's network namespace, as text for <c>nft -f -</c> (run there
/// by the native stage, with CAP_NET_ADMIN of the sandbox's user namespace, which the payload never
/// holds). Every address is local to the namespace (a local default route), so nothing leaves
/// it but through the supervisor: DNS on port 53, TCP or UDP, to any address goes to the
/// supervisor's resolver; every other TCP connection is redirected to the supervisor's capture
/// listener, which reads the original destination (SO_ORIGINAL_DST); everything else (UDP,
/// ICMP) is dropped, so the sender gets EPERM at once. The sandbox's own loopback stays its own.
/// </summary>
internal static class NftRuleset
{
    /// <summary>The table's name in the sandbox's namespace.</summary>
    public const string Table = "husk";

    /// <param name="capturePort">The supervisor's TCP listener on 127.0.0.1 and ::1.</param>
    /// <param name="dnsPort">The supervisor's resolver on 127.0.0.1 and ::1, UDP and TCP.</param>
    /// <param name="refusedUpFront">
    /// When the default refuses: literal TCP destinations no address rule names are reset in the
    /// kernel (ECONNREFUSED at once) instead of being accepted and then reset by the supervisor.
    /// </param>
    public static string Allowlist(int capturePort, int dnsPort, IReadOnlyList<IpNetwork>? refusedUpFront)
    {
        var sb = new StringBuilder();
        sb.Append("table inet ").Append(Table).Append(" {\n");
        if (refusedUpFront is not null)
        {
            // An anonymous set refuses overlapping blocks: keep only the outermost ones.
            var blocks = Outermost([.. refusedUpFront, IpNetwork.TryParse("127.0.0.0/8", out var lo, out _) ? lo : default, IpNetwork.Of(System.Net.IPAddress.IPv6Loopback), FakeAddressPool.V4, FakeAddressPool.V6]);
            var v4 = blocks.Where(n => n.IsIPv4).Select(n => n.ToString());
            var v6 = blocks.Where(n => !n.IsIPv4).Select(n => n.ToString());
            sb.Append("\tchain husk_early {\n\t\ttype filter hook output priority -150; policy accept;\n");
            sb.Append("\t\ttcp dport 53 accept\n");
            sb.Append("\t\tmeta nfproto ipv4 ip daddr != { ").AppendJoin(", ", v4).Append(" } tcp flags & (syn | ack) == syn reject with tcp reset\n");
            sb.Append("\t\tmeta nfproto ipv6 ip6 daddr != { ").AppendJoin(", ", v6).Append(" } tcp flags & (syn | ack) == syn reject with tcp reset\n");
            sb.Append("\t}\n");
        }
        sb.Append("\tchain husk_redirect {\n\t\ttype nat hook output priority -100; policy accept;\n");
        sb.Append("\t\tip daddr 127.0.0.0/8 return\n");
        sb.Append("\t\tip6 daddr ::1 return\n");
        sb.Append("\t\tmeta l4proto { tcp, udp } th dport 53 redirect to :").Append(dnsPort).Append('\n');
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
