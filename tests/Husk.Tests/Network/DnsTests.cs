using System.Net;
using System.Net.Sockets;
using Husk.Network;

namespace Husk.Tests.Network;

/// <summary>DNS messages, the fake pool, and the responder's answers (against a resolver made up here).</summary>
public class DnsTests
{
    /// <summary>A query as a resolver library sends it, built by hand (not with the code under test).</summary>
    private static byte[] Query(ushort id, string name, ushort type, bool edns = false)
    {
        var b = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, (byte)(edns ? 1 : 0) };
        foreach (string label in name.Split('.'))
        {
            b.Add((byte)label.Length);
            b.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }
        b.AddRange([0, (byte)(type >> 8), (byte)type, 0, 1]);
        if (edns)
            b.AddRange([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
        return [.. b];
    }

    [Fact]
    public void A_query_parses_with_its_name_in_lower_case()
    {
        var m = DnsMessage.Parse(Query(0x1234, "WWW.Example.com", DnsType.Aaaa, edns: true))!;
        Assert.Equal((0x1234, "www.example.com", DnsType.Aaaa, false), (m.Id, m.Name, m.Type, m.IsResponse));
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63 })]
    [InlineData(new byte[] { 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 1, 0, 1 })] // a pointer to itself
    [InlineData(new byte[] { 1, 2, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1 })]       // two questions
    [InlineData(new byte[] { 1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, (byte)'a', (byte)'.', (byte)'b', 0, 0, 1, 0, 1 })] // a dot inside a label
    public void Broken_messages_do_not_parse(byte[] message) => Assert.Null(DnsMessage.Parse(message));

    [Fact]
    public void An_answer_carries_the_question_and_records_of_its_type()
    {
        var q = DnsMessage.Parse(Query(7, "example.com", DnsType.A))!;
        var a = DnsMessage.Parse(DnsMessage.Answer(q, DnsRcode.NoError, [IPAddress.Parse("198.18.0.1")], 300))!;
        Assert.True(a.IsResponse);
        Assert.Equal((7, "example.com", 0), (a.Id, a.Name, a.Rcode));
        var r = Assert.Single(a.Answers);
        Assert.Equal((DnsType.A, 300u, "198.18.0.1"), (r.Type, r.Ttl, r.Address!.ToString()));
        Assert.Equal(DnsRcode.NxDomain, DnsMessage.Parse(DnsMessage.Answer(q, DnsRcode.NxDomain, [], 0))!.Rcode);
    }

    [Fact]
    public void The_pool_gives_each_name_one_address_per_family_and_maps_it_back()
    {
        var pool = new FakeAddressPool();
        var a = pool.AddressOf("a.test", AddressFamily.InterNetwork);
        var b = pool.AddressOf("b.test", AddressFamily.InterNetwork);
        var a6 = pool.AddressOf("a.test", AddressFamily.InterNetworkV6);
        Assert.Equal(a, pool.AddressOf("a.test", AddressFamily.InterNetwork));
        Assert.NotEqual(a, b);
        Assert.True(FakeAddressPool.V4.Contains(a) && FakeAddressPool.V6.Contains(a6));
        Assert.Equal("a.test", pool.NameOf(a));
        Assert.Equal("a.test", pool.NameOf(a6));
        Assert.Equal("b.test", pool.NameOf(IPAddress.Parse("::ffff:" + b)));
        Assert.Null(pool.NameOf(IPAddress.Parse("198.18.99.99")));
    }

    /// <summary>A resolver made up for the test, counting what it was asked.</summary>
    private sealed class Upstream : IUpstreamResolver
    {
        public readonly List<string> Asked = [];

        public Task<UpstreamAnswer> ResolveAsync(string name, AddressFamily family, CancellationToken ct)
        {
            lock (Asked)
                Asked.Add($"{name}/{(family == AddressFamily.InterNetwork ? "A" : "AAAA")}");
            return Task.FromResult(name switch
            {
                "example.com" when family == AddressFamily.InterNetwork => new UpstreamAnswer(0, [IPAddress.Parse("93.184.216.34")]),
                "example.com" => new UpstreamAnswer(0, []),
                _ => new UpstreamAnswer(DnsRcode.NxDomain, []),
            });
        }
    }

    private static (DnsResponder, Upstream, NetworkLog, FakeAddressPool) Responder(params string[] rules)
    {
        var upstream = new Upstream();
        var log = new NetworkLog(null);
        var pool = new FakeAddressPool();
        var policy = new EgressPolicy([.. rules.Select(EgressRule.Parse)], EgressAction.Refuse, ProtectedAddresses.FixedOnly);
        return (new DnsResponder(policy, pool, upstream, log), upstream, log, pool);
    }

    [Fact]
    public async Task An_allowed_name_gets_a_fake_address_and_the_real_one_is_kept()
    {
        var (dns, upstream, log, pool) = Responder("example.com:443");
        var reply = DnsMessage.Parse((await dns.AnswerAsync(Query(1, "example.com", DnsType.A), null, TestContext.Current.CancellationToken))!)!;
        var fake = Assert.Single(reply.Answers).Address!;
        Assert.Equal("example.com", pool.NameOf(fake));
        Assert.Equal([IPAddress.Parse("93.184.216.34")], dns.RealAddresses("example.com", AddressFamily.InterNetwork));
        Assert.Equal(["example.com/A"], upstream.Asked);
        var aaaa = DnsMessage.Parse((await dns.AnswerAsync(Query(2, "example.com", DnsType.Aaaa), null, TestContext.Current.CancellationToken))!)!;
        Assert.Equal((0, 0), (aaaa.Rcode, aaaa.Answers.Count));
        Assert.All(log.Events, e => Assert.Equal("allowed", e.Verdict));
    }

    [Fact]
    public async Task A_name_no_rule_allows_gets_NXDOMAIN_and_no_resolver_is_asked()
    {
        var (dns, upstream, log, _) = Responder("example.com");
        foreach (ushort type in new[] { DnsType.A, DnsType.Aaaa, (ushort)16 /* TXT */ })
        {
            var reply = DnsMessage.Parse((await dns.AnswerAsync(Query(3, "secret-data.evil.test", type), null, TestContext.Current.CancellationToken))!)!;
            Assert.Equal(DnsRcode.NxDomain, reply.Rcode);
        }
        Assert.Empty(upstream.Asked);
        Assert.All(log.Events, e => Assert.Equal(("refused", "secret-data.evil.test"), (e.Verdict, e.Name)));
    }

    [Fact]
    public async Task Other_record_types_of_an_allowed_name_are_empty_and_upstream_NXDOMAIN_passes_through()
    {
        var (dns, upstream, _, _) = Responder("example.com", "*.example.com");
        var txt = DnsMessage.Parse((await dns.AnswerAsync(Query(4, "example.com", 16), null, TestContext.Current.CancellationToken))!)!;
        Assert.Equal((0, 0), (txt.Rcode, txt.Answers.Count));
        var missing = DnsMessage.Parse((await dns.AnswerAsync(Query(5, "nope.example.com", DnsType.A), null, TestContext.Current.CancellationToken))!)!;
        Assert.Equal(DnsRcode.NxDomain, missing.Rcode);
        Assert.Equal(["nope.example.com/A"], upstream.Asked);
    }

    [Fact]
    public async Task Garbage_gets_FORMERR_and_responses_get_nothing()
    {
        var (dns, _, _, _) = Responder("example.com");
        var formerr = await dns.AnswerAsync(new byte[] { 9, 9, 1, 0, 0, 1 }, null, TestContext.Current.CancellationToken);
        Assert.Equal(new byte[] { 9, 9, 0x80, 1, 0, 0, 0, 0, 0, 0, 0, 0 }, formerr);
        var response = Query(6, "example.com", DnsType.A);
        response[2] |= 0x80;
        Assert.Null(await dns.AnswerAsync(response, null, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Original_destinations_parse_from_the_kernels_sockaddrs()
    {
        byte[] v4 = [2, 0, 0x01, 0xBB, 93, 184, 216, 34, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.Equal(new IPEndPoint(IPAddress.Parse("93.184.216.34"), 443), EgressProxy.ParseSockaddr(v4));
        byte[] v6 = new byte[28];
        v6[0] = 10;
        v6[3] = 80;
        IPAddress.Parse("fd68:7573:6b00::1").GetAddressBytes().CopyTo(v6, 8);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd68:7573:6b00::1"), 80), EgressProxy.ParseSockaddr(v6));
        Assert.Null(EgressProxy.ParseSockaddr([1, 0, 0, 0]));
    }

    [Fact]
    public void A_flow_that_ends_after_the_log_file_closed_is_still_recorded_and_throws_nothing()
    {
        // A UDP flow or TCP connection can end on a thread-pool thread after the session disposed the log.
        string file = Path.Combine(TestEnvironment.ScratchDirectory("netlog"), "net.jsonl");
        var log = new NetworkLog(file);
        log.Dispose();
        log.Add(new NetworkEvent { Time = DateTimeOffset.UtcNow, Protocol = "udp", Verdict = "allowed" });
        Assert.Single(log.Events);
    }
}
