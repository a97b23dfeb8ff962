using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;

namespace Husk.Tracing;

/// <summary>
/// Socket addresses as strace prints them ({sa_family=AF_INET, sin_port=htons(80),
/// sin_addr=inet_addr("127.0.0.1")}), with the address itself as the argument's value
/// (127.0.0.1:80, [::1]:443, /run/socket, @abstract).
/// </summary>
internal static class SockaddrDecoder
{
    private const int MaxLength = 128;

    /// <summary>The sockaddr of <paramref name="length"/> bytes at <paramref name="address"/>.</summary>
    public static SyscallArgument At(ITraceeMemory memory, ulong address, long length)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        int n = (int)Math.Clamp(length, 0, MaxLength);
        var bytes = n >= 2 ? memory.ReadExactly(address, n) : null;
        if (bytes is null)
            return new SyscallArgument(address, StringDecoder.Hex(address));
        var (text, value) = Decode(bytes);
        return new SyscallArgument(address, text) { Value = value };
    }

    /// <summary>A sockaddr's bytes decoded: the text and the address.</summary>
    public static (string Text, string? Value) Decode(ReadOnlySpan<byte> b)
    {
        int family = BinaryPrimitives.ReadUInt16LittleEndian(b);
        string familyName = FlagTables.Family.Decode(family);
        var sb = new StringBuilder("{sa_family=").Append(familyName);
        string? value = null;
        switch (family)
        {
            case 1:
            {
                var path = b[2..];
                if (path.IsEmpty)
                    break;
                bool @abstract = path[0] == 0;
                if (@abstract)
                    path = path[1..];
                else if (path.IndexOf((byte)0) is >= 0 and var nul)
                    path = path[..nul];
                sb.Append(", sun_path=").Append(@abstract ? "@" : "").Append(StringDecoder.Quote(path));
                value = (@abstract ? "@" : "") + Encoding.UTF8.GetString(path);
                break;
            }
            case 2 when b.Length >= 8:
            {
                int port = BinaryPrimitives.ReadUInt16BigEndian(b[2..]);
                string ip = new IPAddress(b.Slice(4, 4)).ToString();
                sb.Append(", sin_port=htons(").Append(port).Append("), sin_addr=inet_addr(\"").Append(ip).Append("\")");
                value = $"{ip}:{port}";
                break;
            }
            case 10 when b.Length >= 24:
            {
                int port = BinaryPrimitives.ReadUInt16BigEndian(b[2..]);
                uint flow = BinaryPrimitives.ReadUInt32BigEndian(b[4..]);
                string ip = new IPAddress(b.Slice(8, 16)).ToString();
                int pct = ip.IndexOf('%');
                if (pct >= 0)
                    ip = ip[..pct];
                uint scope = b.Length >= 28 ? BinaryPrimitives.ReadUInt32LittleEndian(b[24..]) : 0;
                sb.Append(", sin6_port=htons(").Append(port).Append("), sin6_flowinfo=htonl(").Append(flow)
                  .Append("), inet_pton(AF_INET6, \"").Append(ip).Append("\", &sin6_addr), sin6_scope_id=").Append(scope);
                value = $"[{ip}]:{port}";
                break;
            }
            case 16 when b.Length >= 12:
                sb.Append(", nl_pid=").Append(BinaryPrimitives.ReadUInt32LittleEndian(b[4..]))
                  .Append(", nl_groups=").Append(BinaryPrimitives.ReadUInt32LittleEndian(b[8..]).ToString("x8", CultureInfo.InvariantCulture));
                break;
            default:
                if (b.Length > 2)
                    sb.Append(", sa_data=").Append(StringDecoder.Quote(b[2..]));
                break;
        }
        return (sb.Append('}').ToString(), value);
    }

    /// <summary>A socklen_t* ([16]), read after the call when it is an output.</summary>
    public static SyscallArgument Length(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        return memory.ReadValue<uint>(address) is { } n
            ? new SyscallArgument(address, $"[{n}]")
            : new SyscallArgument(address, StringDecoder.Hex(address));
    }
}
