using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Husk.Tests.Network;

/// <summary>
/// A DNS server of the test's own on loopback (written here by hand, not with the code under
/// test): it answers A and AAAA from a table and NXDOMAIN otherwise, and records every name asked.
/// </summary>
internal sealed class TestDns : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Dictionary<string, IPAddress[]> _names;
    private readonly List<string> _asked = [];

    public TestDns(IPAddress at, Dictionary<string, IPAddress[]> names)
    {
        _names = names;
        _socket.Bind(new IPEndPoint(at, 0));
        Endpoint = (IPEndPoint)_socket.LocalEndPoint!;
        new Thread(Serve) { IsBackground = true, Name = "test-dns" }.Start();
    }

    public IPEndPoint Endpoint { get; }

    /// <summary>Every name asked so far.</summary>
    public IReadOnlyList<string> Asked
    {
        get
        {
            lock (_asked)
                return [.. _asked];
        }
    }

    private void Serve()
    {
        var buf = new byte[1500];
        EndPoint peer = new IPEndPoint(IPAddress.Any, 0);
        while (true)
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(buf, ref peer);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            int at = 12;
            var labels = new List<string>();
            while (at < n && buf[at] != 0)
            {
                labels.Add(Encoding.ASCII.GetString(buf, at + 1, buf[at]));
                at += 1 + buf[at];
            }
            string name = string.Join('.', labels).ToLowerInvariant();
            int type = buf[at + 1] << 8 | buf[at + 2];
            int questionEnd = at + 5;
            lock (_asked)
                _asked.Add(name);
            var reply = new List<byte>(buf.AsSpan(0, questionEnd).ToArray());
            reply[2] = 0x81;
            if (!_names.TryGetValue(name, out var addresses))
            {
                reply[3] = 0x83; // NXDOMAIN
                reply[6] = reply[7] = 0;
            }
            else
            {
                var matching = addresses.Where(a => a.AddressFamily == (type == 28 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork) && type is 1 or 28).ToList();
                reply[3] = 0x80;
                reply[6] = 0;
                reply[7] = (byte)matching.Count;
                foreach (var a in matching)
                {
                    byte[] data = a.GetAddressBytes();
                    reply.AddRange([0xC0, 12, 0, (byte)type, 0, 1, 0, 0, 0, 60, 0, (byte)data.Length]);
                    reply.AddRange(data);
                }
            }
            reply[8] = reply[9] = reply[10] = reply[11] = 0;
            try
            {
                _socket.SendTo(reply.ToArray(), peer);
            }
            catch (SocketException)
            {
            }
        }
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>An HTTP/1.0 server of the test's own: every request gets <see cref="Body"/>.</summary>
internal sealed class TestHttp : IDisposable
{
    private readonly Socket _listener;
    private int _served;

    public TestHttp(IPAddress at, string body)
    {
        Body = body;
        _listener = new Socket(at.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(at, 0));
        _listener.Listen(64);
        Endpoint = (IPEndPoint)_listener.LocalEndPoint!;
        new Thread(Serve) { IsBackground = true, Name = "test-http" }.Start();
    }

    public string Body { get; }

    public IPEndPoint Endpoint { get; }

    public int Port => Endpoint.Port;

    /// <summary>Requests answered.</summary>
    public int Served => Volatile.Read(ref _served);

    private void Serve()
    {
        while (true)
        {
            Socket c;
            try
            {
                c = _listener.Accept();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            using (c)
            {
                try
                {
                    var buf = new byte[4096];
                    int got = 0;
                    while (got < buf.Length && !Encoding.ASCII.GetString(buf, 0, got).Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        int n = c.Receive(buf, got, buf.Length - got, SocketFlags.None);
                        if (n == 0)
                            break;
                        got += n;
                    }
                    c.Send(Encoding.ASCII.GetBytes($"HTTP/1.0 200 OK\r\nContent-Length: {Body.Length}\r\n\r\n{Body}"));
                    Interlocked.Increment(ref _served);
                }
                catch (SocketException)
                {
                }
            }
        }
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>A UDP echo server of the test's own: every datagram comes back as "echo:" and itself.</summary>
internal sealed class TestUdpEcho : IDisposable
{
    private readonly Socket _socket;
    private int _served;
    private bool _disposed;

    public TestUdpEcho(IPAddress at)
    {
        _socket = new Socket(at.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(new IPEndPoint(at, 0));
        Endpoint = (IPEndPoint)_socket.LocalEndPoint!;
        new Thread(Serve) { IsBackground = true, Name = "test-udp" }.Start();
    }

    public IPEndPoint Endpoint { get; }

    public int Port => Endpoint.Port;

    /// <summary>Datagrams echoed.</summary>
    public int Served => Volatile.Read(ref _served);

    private void Serve()
    {
        var buf = new byte[65536];
        EndPoint peer = new IPEndPoint(Endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (true)
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(buf, ref peer);
                _socket.SendTo([.. "echo:"u8, .. buf.AsSpan(0, n)], peer);
                Interlocked.Increment(ref _served);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (Volatile.Read(ref _disposed))
                    return;
            }
        }
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        _socket.Dispose();
    }
}
