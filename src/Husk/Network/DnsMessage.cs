using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Husk.Network;

/// <summary>DNS record types the supervisor treats by name.</summary>
internal static class DnsType
{
    public const ushort A = 1;
    public const ushort CName = 5;
    public const ushort Ptr = 12;
    public const ushort Aaaa = 28;
    public const ushort Opt = 41;
}

/// <summary>DNS response codes.</summary>
internal static class DnsRcode
{
    public const int NoError = 0;
    public const int FormErr = 1;
    public const int ServFail = 2;
    public const int NxDomain = 3;
    public const int NotImp = 4;
    public const int Refused = 5;
}

/// <summary>One resource record of an answer section.</summary>
internal sealed record DnsRecord(string Name, ushort Type, uint Ttl, byte[] Data)
{
    /// <summary>The address an A or AAAA record holds.</summary>
    public IPAddress? Address => Type is DnsType.A && Data.Length == 4 || Type is DnsType.Aaaa && Data.Length == 16 ? new IPAddress(Data) : null;
}

/// <summary>
/// The small part of DNS (RFC 1035) the supervisor speaks: a query with one question, and
/// answers of A and AAAA records. Parsing never throws on bad input: it returns null.
/// </summary>
internal sealed record DnsMessage
{
    public ushort Id { get; init; }
    public ushort Flags { get; init; }
    /// <summary>The question's name, lower case without a final dot.</summary>
    public string Name { get; init; } = "";
    public ushort Type { get; init; }
    public ushort Class { get; init; } = 1;
    public IReadOnlyList<DnsRecord> Answers { get; init; } = [];

    public bool IsResponse => (Flags & 0x8000) != 0;
    public int Opcode => (Flags >> 11) & 0xF;
    public int Rcode => Flags & 0xF;

    /// <summary>Parses a message: its header, its one question and its answer section.</summary>
    public static DnsMessage? Parse(ReadOnlySpan<byte> m)
    {
        if (m.Length < 12)
            return null;
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(m);
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(m[2..]);
        int qd = BinaryPrimitives.ReadUInt16BigEndian(m[4..]);
        int an = BinaryPrimitives.ReadUInt16BigEndian(m[6..]);
        if (qd != 1)
            return null;
        int at = 12;
        if (ReadName(m, ref at) is not { } name || at + 4 > m.Length)
            return null;
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(m[at..]);
        ushort cls = BinaryPrimitives.ReadUInt16BigEndian(m[(at + 2)..]);
        at += 4;
        var answers = new List<DnsRecord>();
        for (int i = 0; i < an; i++)
        {
            if (ReadName(m, ref at) is not { } rname || at + 10 > m.Length)
                return null;
            ushort rtype = BinaryPrimitives.ReadUInt16BigEndian(m[at..]);
            uint ttl = BinaryPrimitives.ReadUInt32BigEndian(m[(at + 4)..]);
            int len = BinaryPrimitives.ReadUInt16BigEndian(m[(at + 8)..]);
            at += 10;
            if (at + len > m.Length)
                return null;
            byte[] data = m.Slice(at, len).ToArray();
            if (rtype == DnsType.CName)
            {
                int inner = at;
                data = Encoding.ASCII.GetBytes(ReadName(m, ref inner) ?? "");
            }
            answers.Add(new DnsRecord(rname, rtype, ttl, data));
            at += len;
        }
        return new DnsMessage { Id = id, Flags = flags, Name = name, Type = type, Class = cls, Answers = answers };
    }

    /// <summary>A name at <paramref name="at"/>, following compression pointers; null when malformed.</summary>
    private static string? ReadName(ReadOnlySpan<byte> m, ref int at)
    {
        var sb = new StringBuilder();
        int pos = at, jumps = 0;
        bool jumped = false;
        while (true)
        {
            if (pos >= m.Length)
                return null;
            byte len = m[pos];
            if (len == 0)
            {
                pos++;
                break;
            }
            if ((len & 0xC0) == 0xC0)
            {
                if (pos + 1 >= m.Length || ++jumps > 16)
                    return null;
                int target = (len & 0x3F) << 8 | m[pos + 1];
                if (!jumped)
                    at = pos + 2;
                jumped = true;
                pos = target;
                continue;
            }
            if ((len & 0xC0) != 0 || pos + 1 + len > m.Length)
                return null;
            if (sb.Length > 0)
                sb.Append('.');
            foreach (byte b in m.Slice(pos + 1, len))
            {
                // Names the policy can compare: no dots or controls inside a label.
                if (b is <= 0x20 or (byte)'.' or >= 0x7f)
                    return null;
                sb.Append(char.ToLowerInvariant((char)b));
            }
            pos += 1 + len;
            if (sb.Length > 253)
                return null;
        }
        if (!jumped)
            at = pos;
        return sb.ToString();
    }

    /// <summary>A query for <paramref name="name"/> of <paramref name="type"/>, recursion desired.</summary>
    public static byte[] Query(ushort id, string name, ushort type)
    {
        var b = new List<byte>(64);
        Header(b, id, 0x0100, questions: 1, answers: 0);
        Question(b, name, type, 1);
        return [.. b];
    }

    /// <summary>
    /// The answer to <paramref name="query"/>: <paramref name="rcode"/>, and for each address a
    /// record of the query's own type with <paramref name="ttl"/>. Recursion is offered, the
    /// answer is authoritative (it is the only view of names the sandbox has).
    /// </summary>
    public static byte[] Answer(DnsMessage query, int rcode, IReadOnlyList<IPAddress> addresses, uint ttl)
    {
        var b = new List<byte>(128);
        ushort flags = (ushort)(0x8000 | (query.Flags & 0x7800) | 0x0400 | (query.Flags & 0x0100) | 0x0080 | (rcode & 0xF));
        Header(b, query.Id, flags, questions: 1, answers: addresses.Count);
        Question(b, query.Name, query.Type, query.Class);
        foreach (var a in addresses)
        {
            byte[] data = a.GetAddressBytes();
            b.Add(0xC0);
            b.Add(12); // the question's name
            U16(b, data.Length == 4 ? DnsType.A : DnsType.Aaaa);
            U16(b, 1);
            U16(b, (ushort)(ttl >> 16));
            U16(b, (ushort)ttl);
            U16(b, (ushort)data.Length);
            b.AddRange(data);
        }
        return [.. b];
    }

    /// <summary>An answer to a message too broken to parse a question from: FORMERR with its id, when it has one.</summary>
    public static byte[]? FormatError(ReadOnlySpan<byte> m)
    {
        if (m.Length < 2)
            return null;
        var b = new List<byte>(12);
        Header(b, BinaryPrimitives.ReadUInt16BigEndian(m), 0x8000 | DnsRcode.FormErr, questions: 0, answers: 0);
        return [.. b];
    }

    private static void Header(List<byte> b, ushort id, int flags, int questions, int answers)
    {
        U16(b, id);
        U16(b, (ushort)flags);
        U16(b, (ushort)questions);
        U16(b, (ushort)answers);
        U16(b, 0);
        U16(b, 0);
    }

    private static void Question(List<byte> b, string name, ushort type, ushort cls)
    {
        if (name.Length > 0)
        {
            foreach (string label in name.Split('.'))
            {
                b.Add((byte)label.Length);
                b.AddRange(Encoding.ASCII.GetBytes(label));
            }
        }
        b.Add(0);
        U16(b, type);
        U16(b, cls);
    }

    private static void U16(List<byte> b, ushort v)
    {
        b.Add((byte)(v >> 8));
        b.Add((byte)v);
    }
}
