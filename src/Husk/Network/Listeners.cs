using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>The supervisor's listeners in the sandbox's namespace: TCP (DNS over TCP, the egress splice) and UDP (DNS, the UDP relay).</summary>
internal static class Listeners
{
    /// <summary>
    /// Accepts on <paramref name="listener"/> until <paramref name="ct"/> is cancelled or the listener
    /// is closed, and hands each connection to <paramref name="serve"/>, which owns it from then on.
    /// </summary>
    public static async Task AcceptUntilClosedAsync(Socket listener, Action<Socket> serve, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            serve(client);
        }
    }

    /// <summary>
    /// Receives datagrams on <paramref name="udp"/> until <paramref name="ct"/> is cancelled or it is
    /// closed, and hands each to <paramref name="handle"/> with its sender; the data is valid only
    /// during the call (one buffer serves them all).
    /// </summary>
    public static async Task ReceiveUntilClosedAsync(Socket udp, Action<ReadOnlyMemory<byte>, IPEndPoint> handle, CancellationToken ct)
    {
        var buffer = new byte[65536];
        EndPoint any = new IPEndPoint(udp.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveFromResult r;
            try
            {
                r = await udp.ReceiveFromAsync(buffer, SocketFlags.None, any, ct).ConfigureAwait(false);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue; // an earlier datagram's receiver went away
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            handle(buffer.AsMemory(0, r.ReceivedBytes), (IPEndPoint)r.RemoteEndPoint);
        }
    }
}
