using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Husk.Network;

/// <summary>
/// An address block of either family (an address is a block of one). IPv4 lives in the IPv4-mapped
/// part of the IPv6 space (::ffff:0:0/96), so a destination given as ::ffff:10.0.0.1 is the same as
/// 10.0.0.1 and one comparison serves both families.
/// </summary>
internal readonly record struct IpNetwork(UInt128 Value, int Length)
{
    private static readonly UInt128 MappedPrefix = (UInt128)0xffff << 32;

    /// <summary>127.0.0.0/8: inside a sandbox's namespace its own loopback, from the supervisor's side the host's.</summary>
    public static IpNetwork HostLoopback4 { get; } = Of(IPAddress.Loopback, 8);

    /// <summary>::1, likewise.</summary>
    public static IpNetwork HostLoopback6 { get; } = Of(IPAddress.IPv6Loopback);

    /// <summary>The block's first address.</summary>
    public IPAddress Address => ToAddress(Value);

    /// <summary>The prefix length in the block's own family (32 for one IPv4 address, 128 for one IPv6 address).</summary>
    public int PrefixLength => IsIPv4 ? Length - 96 : Length;

    /// <summary>Whether this is an IPv4 block.</summary>
    public bool IsIPv4 => Length >= 96 && (Value >> 32) == 0xffff;

    /// <summary>One address.</summary>
    public static IpNetwork Of(IPAddress address) => new(Key(address), 128);

    /// <summary>The block of <paramref name="address"/>/<paramref name="prefixLength"/> (host bits cleared).</summary>
    public static IpNetwork Of(IPAddress address, int prefixLength)
    {
        var mapped = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        int length = mapped.AddressFamily == AddressFamily.InterNetwork ? prefixLength + 96 : prefixLength;
        return new(Key(mapped) & Mask(length), length);
    }

    /// <summary>Parses "ADDR" or "ADDR/LEN" of either family; false with a reason when it is not one.</summary>
    public static bool TryParse(string text, out IpNetwork network, out string? error)
    {
        network = default;
        int slash = text.IndexOf('/');
        string addr = slash < 0 ? text : text[..slash];
        if (!TryParseAddress(addr, out var ip))
        {
            error = $"not an IP address: {addr}";
            return false;
        }
        int max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        int length = max;
        if (slash >= 0)
        {
            string len = text[(slash + 1)..];
            if (!int.TryParse(len, NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max || len.Length > 3)
            {
                error = $"not a prefix length of an IPv{(max == 32 ? 4 : 6)} block (0 to {max}): /{len}";
                return false;
            }
        }
        network = Of(ip, length);
        error = null;
        return true;
    }

    /// <summary>A literal address in its usual notation only (no shortened IPv4 such as "10.1" or "127.1").</summary>
    public static bool TryParseAddress(string text, out IPAddress address)
    {
        address = IPAddress.None;
        if (text.Length == 0 || text.Contains('%'))
            return false;
        if (text.Contains(':'))
            return IPAddress.TryParse(text, out address!) && address.AddressFamily == AddressFamily.InterNetworkV6;
        string[] parts = text.Split('.');
        if (parts.Length != 4 || parts.Any(p => p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || int.Parse(p, CultureInfo.InvariantCulture) > 255))
            return false;
        return IPAddress.TryParse(text, out address!);
    }

    /// <summary>Whether <paramref name="address"/> lies in this block.</summary>
    public bool Contains(IPAddress address) => (Key(address) & Mask(Length)) == Value;

    /// <summary>Whether <paramref name="other"/> lies wholly in this block.</summary>
    public bool Contains(IpNetwork other) => other.Length >= Length && (other.Value & Mask(Length)) == Value;

    /// <summary>The <paramref name="index"/>th address of the block (0 is its first).</summary>
    public IPAddress At(UInt128 index) => ToAddress(Value + index);

    /// <summary>How many addresses the block holds, capped at 2^64.</summary>
    public UInt128 Size => Length == 0 ? UInt128.MaxValue : (UInt128)1 << Math.Min(64, 128 - Length);

    /// <summary>The address as a number in the shared space (IPv4 mapped).</summary>
    public static UInt128 Key(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b4 = stackalloc byte[4];
            address.TryWriteBytes(b4, out _);
            return MappedPrefix | ((UInt128)b4[0] << 24 | (UInt128)b4[1] << 16 | (UInt128)b4[2] << 8 | b4[3]);
        }
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        UInt128 v = 0;
        foreach (byte x in b)
            v = v << 8 | x;
        return v;
    }

    private static IPAddress ToAddress(UInt128 v)
    {
        if ((v >> 32) == 0xffff)
            return new IPAddress(new[] { (byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v });
        var b = new byte[16];
        for (int i = 15; i >= 0; i--, v >>= 8)
            b[i] = (byte)v;
        return new IPAddress(b);
    }

    private static UInt128 Mask(int length) => length == 0 ? 0 : UInt128.MaxValue << (128 - length);

    /// <summary>"10.0.0.0/8", "2001:db8::/32", or the address alone for a single address.</summary>
    public override string ToString()
    {
        int own = PrefixLength;
        bool single = IsIPv4 ? own == 32 : own == 128;
        return single ? Address.ToString() : $"{Address}/{own}";
    }
}
