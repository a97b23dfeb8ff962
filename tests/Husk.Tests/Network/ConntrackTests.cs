using System.Net;
using Husk.Network;

namespace Husk.Tests.Network;

/// <summary>The ctnetlink request the UDP relay sends and the reply it reads, against bytes this kernel exchanged.</summary>
public class ConntrackTests
{
    // A request for the entry whose reply tuple runs from the relay (127.0.0.1:7777) to a sender
    // (198.18.0.5:51391), and the kernel's answer (IPCTNL_MSG_CT_NEW) to it: the datagram was
    // going to 198.18.0.5:5000. Both taken from a run in a namespace of this machine's kernel.
    private const string Request = "48000000010101000100000000000000020000003400028014000180080001007f00000108000200c61200051c0002800500010011000000060002001e61000006000300c8bf0000";
    private const string Reply = "a40000000001020001000000255f000002000000340001801400018008000100c612000508000200c61200051c000280050001001100000006000200c8bf000006000300138800003400028014000180080001007f00000108000200c61200051c0002800500010011000000060002001e61000006000300c8bf000008000300000001a8080008000000000008000c000d96ce5a08000b0000000002080007000000001d";

    [Fact]
    public void The_request_names_the_reply_tuple_as_ctnetlink_wants_it()
    {
        byte[] request = Conntrack.Request(1, new IPEndPoint(IPAddress.Loopback, 7777), new IPEndPoint(IPAddress.Parse("198.18.0.5"), 51391), 17);
        Assert.Equal(Request, Convert.ToHexStringLower(request));
    }

    [Fact]
    public void The_reply_gives_the_original_destination()
    {
        byte[] reply = Convert.FromHexString(Reply);
        Assert.True(Conntrack.ParseReply(reply, 1, out var destination));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("198.18.0.5"), 5000), destination);
        // Another request's answer is not this one's.
        Assert.False(Conntrack.ParseReply(reply, 2, out _));
    }

    [Fact]
    public void An_error_ends_the_wait_without_a_destination_and_an_IPv6_request_uses_the_IPv6_attributes()
    {
        // NLMSG_ERROR with ENOENT (-2): no such entry.
        byte[] error = Convert.FromHexString("24000000020000000300000000000000feffffff" + "0000000000000000000000000000000000000000"[..32]);
        Assert.True(Conntrack.ParseReply(error, 3, out var none));
        Assert.Null(none);
        byte[] v6 = Conntrack.Request(4, new IPEndPoint(IPAddress.IPv6Loopback, 1), new IPEndPoint(IPAddress.Parse("fd68:7573:6b00::5"), 40000), 17);
        Assert.Equal(10, v6[16]);                              // nfgenmsg family AF_INET6
        Assert.Equal("14000300" + "00000000000000000000000000000001", Convert.ToHexStringLower(v6.AsSpan(28, 20))); // CTA_IP_V6_SRC ::1
    }
}
