using System.Net.Sockets;

namespace Husk.Network;

/// <summary>The supervisor's TCP listeners in the sandbox's namespace (DNS over TCP, the egress splice).</summary>
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
}
