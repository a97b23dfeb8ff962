using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Husk.Interop;

namespace Husk.Network;

/// <summary>
/// The connection tracking of the sandbox's namespace, asked over netlink (ctnetlink) where a
/// redirected datagram was going. nftables' redirect rewrote its destination to the relay, and
/// for UDP the kernel has no SO_ORIGINAL_DST; the conntrack entry keeps the original tuple, and
/// it is found by its reply tuple (from the relay's address to the sender's). The socket was made
/// in the sandbox's namespace by the native stage; the supervisor owns the sandbox's user
/// namespace, so it holds the CAP_NET_ADMIN ctnetlink asks for there (the payload does not).
/// </summary>
internal sealed class Conntrack(SafeFd socket) : IDisposable
{
    private const ushort NlmsgError = 2, NlmFRequest = 1;
    private const ushort CtGet = 1 << 8 | 1, CtNew = 1 << 8 | 0; // NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET / _NEW
    private const ushort NlaNested = 0x8000, NlaTypeMask = 0x3fff;
    private const ushort CtaTupleOrig = 1, CtaTupleReply = 2, CtaTupleIp = 1, CtaTupleProto = 2;
    private const ushort CtaIpV4Src = 1, CtaIpV4Dst = 2, CtaIpV6Src = 3, CtaIpV6Dst = 4;
    private const ushort CtaProtoNum = 1, CtaProtoSrcPort = 2, CtaProtoDstPort = 3;
    private const int ReplyTimeoutMs = 1000;

    private readonly object _gate = new();
    private uint _sequence;

    /// <summary>
    /// Where the flow from <paramref name="sender"/> to the relay at <paramref name="relay"/> was
    /// going before it was redirected, or null when conntrack does not know it.
    /// </summary>
    public unsafe IPEndPoint? OriginalDestination(IPEndPoint relay, IPEndPoint sender, ProtocolType protocol)
    {
        lock (_gate)
        {
            uint seq = ++_sequence;
            byte[] request = Request(seq, relay, sender, (byte)protocol);
            fixed (byte* p = request)
            {
                if (Interop.Interop.Send(socket.Fd, p, (nuint)request.Length, Interop.Interop.MSG_NOSIGNAL) < 0)
                    return null;
            }
            var buffer = new byte[8192];
            while (true)
            {
                var pfd = new Interop.Interop.PollFd { Fd = socket.Fd, Events = Interop.Interop.POLLIN };
                if (Interop.Interop.Poll(&pfd, 1, ReplyTimeoutMs) <= 0)
                    return null;
                nint n = Interop.Interop.ReceiveMessage(socket.Fd, buffer, default, 0, out _);
                if (n <= 0)
                    return null;
                if (ParseReply(buffer.AsSpan(0, (int)n), seq, out var destination))
                    return destination;
            }
        }
    }

    /// <summary>An IPCTNL_MSG_CT_GET for the entry whose reply tuple goes from <paramref name="from"/> to <paramref name="to"/>.</summary>
    internal static byte[] Request(uint sequence, IPEndPoint from, IPEndPoint to, byte protocol)
    {
        bool v6 = from.AddressFamily == AddressFamily.InterNetworkV6;
        var ip = new List<byte>();
        Attribute(ip, v6 ? CtaIpV6Src : CtaIpV4Src, from.Address.GetAddressBytes());
        Attribute(ip, v6 ? CtaIpV6Dst : CtaIpV4Dst, to.Address.GetAddressBytes());
        var proto = new List<byte>();
        Attribute(proto, CtaProtoNum, [protocol]);
        Attribute(proto, CtaProtoSrcPort, BigEndian((ushort)from.Port));
        Attribute(proto, CtaProtoDstPort, BigEndian((ushort)to.Port));
        var tuple = new List<byte>();
        Attribute(tuple, CtaTupleIp | NlaNested, [.. ip]);
        Attribute(tuple, CtaTupleProto | NlaNested, [.. proto]);
        var body = new List<byte> { (byte)(v6 ? 10 : 2), 0, 0, 0 }; // nfgenmsg: family, NFNETLINK_V0, res_id
        Attribute(body, CtaTupleReply | NlaNested, [.. tuple]);
        var message = new byte[16 + body.Count];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)message.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), CtGet);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), NlmFRequest);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
        body.CopyTo(message, 16);
        return message;
    }

    /// <summary>
    /// Reads the answer to request <paramref name="sequence"/> from <paramref name="message"/>: true
    /// once it is found (with the original destination, or null for an error such as no entry);
    /// false for other messages.
    /// </summary>
    internal static bool ParseReply(ReadOnlySpan<byte> message, uint sequence, out IPEndPoint? destination)
    {
        destination = null;
        while (message.Length >= 16)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(message);
            if (length < 16 || length > message.Length)
                return false;
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
            uint seq = BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
            var payload = message[16..length];
            message = message[Align(length)..];
            if (seq != sequence)
                continue;
            if (type == NlmsgError)
                return true;
            if (type != CtNew || payload.Length < 4)
                continue;
            var orig = Find(payload[4..], CtaTupleOrig);
            var ip = Find(orig, CtaTupleIp);
            var proto = Find(orig, CtaTupleProto);
            var v4 = Find(ip, CtaIpV4Dst);
            var v6 = Find(ip, CtaIpV6Dst);
            var port = Find(proto, CtaProtoDstPort);
            if (port.Length != 2 || (v4.Length != 4 && v6.Length != 16))
                return true;
            destination = new IPEndPoint(new IPAddress(v4.Length == 4 ? v4 : v6), BinaryPrimitives.ReadUInt16BigEndian(port));
            return true;
        }
        return false;
    }

    /// <summary>The data of the first attribute of <paramref name="type"/> (nested or not) among <paramref name="attributes"/>; empty when there is none.</summary>
    private static ReadOnlySpan<byte> Find(ReadOnlySpan<byte> attributes, ushort type)
    {
        while (attributes.Length >= 4)
        {
            int length = BinaryPrimitives.ReadUInt16LittleEndian(attributes);
            if (length < 4 || length > attributes.Length)
                return default;
            if ((BinaryPrimitives.ReadUInt16LittleEndian(attributes[2..]) & NlaTypeMask) == type)
                return attributes[4..length];
            attributes = attributes[Math.Min(Align(length), attributes.Length)..];
        }
        return default;
    }

    private static void Attribute(List<byte> to, ushort type, byte[] data)
    {
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(header, (ushort)(4 + data.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(header[2..], type);
        to.AddRange(header);
        to.AddRange(data);
        for (int pad = Align(4 + data.Length) - (4 + data.Length); pad > 0; pad--)
            to.Add(0);
    }

    private static byte[] BigEndian(ushort value)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, value);
        return b;
    }

    private static int Align(int length) => (length + 3) & ~3;

    public void Dispose() => socket.Dispose();
}
