using Husk.Network;

namespace Husk.Tests.Network;

/// <summary>/proc/net/tcp as the NAT helper's drain reads it: which connections to published ports the helper still holds open.</summary>
public class TcpTableTests
{
    private static readonly string[] Table =
    [
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 00000000:49F3 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 4001 1 0000000000000000 100 0 0 10 0",
        "   1: 0100007F:49F3 0100007F:D431 01 0001A000:00000000 01:00000014 00000000 65534        0 4002 1 0000000000000000 20 4 30 10 -1",
        "   2: 0100007F:D431 0100007F:49F3 01 00000000:00003000 00:00000000 00000000 65534        0 4003 1 0000000000000000 20 4 30 10 -1",
        "   3: 0100007F:49F3 0100007F:D432 04 00000000:00000000 01:00000014 00000000 65534        0 4004 1 0000000000000000 20 4 30 10 -1",
        "   4: 0100007F:49F3 0100007F:D433 08 00000000:00000000 00:00000000 00000000 65534        0 4005 1 0000000000000000 20 4 30 10 -1",
        "   5: garbage",
    ];

    [Fact]
    public void Only_the_helpers_open_ends_on_a_published_port_are_undrained()
    {
        var sockets = TcpTable.Parse(Table).ToList();
        Assert.Equal(5, sockets.Count);
        Assert.Equal(new TcpSocket(0x49F3, 0xD431, TcpSocket.Established, 0x1A000, 0, 4002), sockets[1]);
        // The listener, the client's own end (remote port 18931) and a connection the helper has closed (FIN_WAIT1) are not waited for.
        Assert.Equal([4002L, 4005L], UserModeNat.Undrained(sockets, new HashSet<int> { 0x49F3 }).Select(s => s.Inode));
        Assert.Empty(UserModeNat.Undrained(sockets, new HashSet<int> { 8080 }));
    }
}
