using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>Serves <see cref="DnsResponder"/> on the sockets the sandbox's namespace gave the supervisor: UDP, and TCP listeners.</summary>
internal static class DnsServer
{
    /// <summary>Answers datagrams on <paramref name="udp"/> until it closes or <paramref name="ct"/> is cancelled.</summary>
    public static Task ServeUdpAsync(Socket udp, DnsResponder responder, CancellationToken ct) =>
        Listeners.ReceiveUntilClosedAsync(udp, (datagram, peer) =>
        {
            byte[] query = datagram.ToArray();
            // Upstream resolution takes time: questions are answered concurrently.
            _ = Task.Run(async () =>
            {
                try
                {
                    if (await responder.AnswerAsync(query, null, ct, peer).ConfigureAwait(false) is { } answer)
                        await udp.SendToAsync(answer, SocketFlags.None, peer, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                }
            }, CancellationToken.None);
        }, ct);

    /// <summary>Answers DNS over TCP on <paramref name="listener"/>.</summary>
    public static Task ServeTcpAsync(Socket listener, DnsResponder responder, CancellationToken ct) =>
        Listeners.AcceptUntilClosedAsync(listener, client => _ = Task.Run(async () =>
        {
            using (client)
            {
                try
                {
                    var peer = client.RemoteEndPoint;
                    while (await DnsFraming.ReadAsync(client, ct).ConfigureAwait(false) is { } query)
                    {
                        if (await responder.AnswerAsync(query, null, ct, peer).ConfigureAwait(false) is { } answer)
                            await DnsFraming.WriteAsync(client, answer, ct).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                {
                }
            }
        }, CancellationToken.None), ct);
}
