using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>What a resolver said about a name: a DNS response code and the addresses of one family.</summary>
internal sealed record UpstreamAnswer(int Rcode, IReadOnlyList<IPAddress> Addresses);

/// <summary>Where the supervisor resolves the names the allowlist lets through.</summary>
internal interface IUpstreamResolver
{
    Task<UpstreamAnswer> ResolveAsync(string name, AddressFamily family, CancellationToken cancellationToken);
}

/// <summary>The host's resolver (getaddrinfo: /etc/hosts, then the host's DNS), from the host's network.</summary>
internal sealed class SystemResolver : IUpstreamResolver
{
    public async Task<UpstreamAnswer> ResolveAsync(string name, AddressFamily family, CancellationToken cancellationToken)
    {
        try
        {
            var all = await Dns.GetHostAddressesAsync(name, family, cancellationToken).ConfigureAwait(false);
            return new UpstreamAnswer(DnsRcode.NoError, [.. all.Where(a => a.AddressFamily == family)]);
        }
        catch (SocketException e)
        {
            return new UpstreamAnswer(e.SocketErrorCode switch
            {
                SocketError.HostNotFound => DnsRcode.NxDomain,
                SocketError.NoData => DnsRcode.NoError,
                _ => DnsRcode.ServFail,
            }, []);
        }
    }
}

/// <summary>A DNS server of the caller's choice (<c>--dns-upstream</c>), asked over UDP, and TCP for truncated answers.</summary>
internal sealed class DnsServerResolver(IPEndPoint server) : IUpstreamResolver
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public IPEndPoint Server { get; } = server;

    public async Task<UpstreamAnswer> ResolveAsync(string name, AddressFamily family, CancellationToken cancellationToken)
    {
        ushort type = family == AddressFamily.InterNetwork ? DnsType.A : DnsType.Aaaa;
        ushort id = (ushort)Random.Shared.Next(0, 65536);
        byte[] query = DnsMessage.Query(id, name, type);
        for (int attempt = 0; attempt < 2; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Timeout);
            try
            {
                using var udp = new Socket(Server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
                await udp.ConnectAsync(Server, timeout.Token).ConfigureAwait(false);
                await udp.SendAsync(query, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                var buffer = new byte[4096];
                while (true)
                {
                    int n = await udp.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                    var reply = DnsMessage.Parse(buffer.AsSpan(0, n));
                    if (reply is null || reply.Id != id || !reply.IsResponse || reply.Name != name)
                        continue; // not ours: keep waiting
                    if ((reply.Flags & 0x0200) != 0)
                        reply = await OverTcp(query, id, name, timeout.Token).ConfigureAwait(false) ?? reply;
                    return Of(reply, type);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // no answer in time: once more
            }
            catch (SocketException)
            {
                return new UpstreamAnswer(DnsRcode.ServFail, []);
            }
        }
        return new UpstreamAnswer(DnsRcode.ServFail, []);
    }

    private async Task<DnsMessage?> OverTcp(byte[] query, ushort id, string name, CancellationToken ct)
    {
        using var tcp = new Socket(Server.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await tcp.ConnectAsync(Server, ct).ConfigureAwait(false);
        await DnsFraming.WriteAsync(tcp, query, ct).ConfigureAwait(false);
        byte[]? reply = await DnsFraming.ReadAsync(tcp, ct).ConfigureAwait(false);
        var m = reply is null ? null : DnsMessage.Parse(reply);
        return m is not null && m.Id == id && m.Name == name ? m : null;
    }

    private static UpstreamAnswer Of(DnsMessage reply, ushort type) =>
        new(reply.Rcode, [.. reply.Answers.Where(r => r.Type == type).Select(r => r.Address).OfType<IPAddress>()]);
}

/// <summary>DNS over TCP: each message follows its length in two bytes.</summary>
internal static class DnsFraming
{
    /// <summary>The next message, or null at end of stream.</summary>
    public static async Task<byte[]?> ReadAsync(Socket socket, CancellationToken ct)
    {
        var length = new byte[2];
        if (!await ReadExactly(socket, length, ct).ConfigureAwait(false))
            return null;
        var message = new byte[length[0] << 8 | length[1]];
        return await ReadExactly(socket, message, ct).ConfigureAwait(false) ? message : null;
    }

    /// <summary>Writes one message with its length.</summary>
    public static async Task WriteAsync(Socket socket, byte[] message, CancellationToken ct)
    {
        var framed = new byte[message.Length + 2];
        framed[0] = (byte)(message.Length >> 8);
        framed[1] = (byte)message.Length;
        message.CopyTo(framed, 2);
        int sent = 0;
        while (sent < framed.Length)
            sent += await socket.SendAsync(framed.AsMemory(sent), SocketFlags.None, ct).ConfigureAwait(false);
    }

    private static async Task<bool> ReadExactly(Socket socket, Memory<byte> buffer, CancellationToken ct)
    {
        int got = 0;
        while (got < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer[got..], SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
                return false;
            got += n;
        }
        return true;
    }
}
