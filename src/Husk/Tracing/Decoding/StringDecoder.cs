using System.Text;

namespace Husk.Tracing;

/// <summary>
/// Strings, paths, data buffers and argv arrays as strace prints them: in double quotes, with
/// \t, \n, \v, \f, \r, \" and \\ escaped and any other byte outside printable ASCII in octal;
/// data cut at <see cref="DataLimit"/> bytes with "..." after the quote (strace's -s 32).
/// </summary>
internal static class StringDecoder
{
    /// <summary>Bytes of a data buffer shown (strace's default -s 32).</summary>
    public const int DataLimit = 32;

    /// <summary>Longest path read (PATH_MAX).</summary>
    public const int PathLimit = 4096;

    /// <summary>Elements of an argv shown before "...".</summary>
    public const int ArgvLimit = 32;

    /// <summary>bytes quoted; "..." follows when <paramref name="more"/>.</summary>
    public static string Quote(ReadOnlySpan<byte> bytes, bool more = false)
    {
        var sb = new StringBuilder(bytes.Length + 2);
        sb.Append('"');
        for (int i = 0; i < bytes.Length; i++)
        {
            byte b = bytes[i];
            switch (b)
            {
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                case (byte)'\t': sb.Append("\\t"); break;
                case (byte)'\n': sb.Append("\\n"); break;
                case (byte)'\v': sb.Append("\\v"); break;
                case (byte)'\f': sb.Append("\\f"); break;
                case (byte)'\r': sb.Append("\\r"); break;
                default:
                    if (b >= 0x20 && b < 0x7f)
                    {
                        sb.Append((char)b);
                    }
                    else
                    {
                        // Shortest octal, unless a digit follows (then three digits, as C reads it).
                        bool digitNext = i + 1 < bytes.Length && bytes[i + 1] >= (byte)'0' && bytes[i + 1] <= (byte)'7';
                        sb.Append('\\').Append(digitNext ? Convert.ToString(b, 8).PadLeft(3, '0') : Convert.ToString(b, 8));
                    }
                    break;
            }
        }
        sb.Append('"');
        if (more)
            sb.Append("...");
        return sb.ToString();
    }

    /// <summary>A NUL-terminated path or name: the quoted text and the text itself; the address in hex when unreadable.</summary>
    public static SyscallArgument Path(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        var bytes = memory.ReadCString(address, PathLimit, out bool truncated);
        if (bytes is null)
            return new SyscallArgument(address, Hex(address));
        return new SyscallArgument(address, Quote(bytes, truncated)) { Value = Encoding.UTF8.GetString(bytes) };
    }

    /// <summary>
    /// A data buffer of <paramref name="length"/> bytes (write's, or read's once it returned):
    /// the first <see cref="DataLimit"/> quoted.
    /// </summary>
    public static SyscallArgument Data(ITraceeMemory memory, ulong address, long length)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        if (length <= 0)
            return new SyscallArgument(address, "\"\"");
        int shown = (int)Math.Min(length, DataLimit);
        var bytes = memory.ReadExactly(address, shown);
        if (bytes is null)
            return new SyscallArgument(address, Hex(address));
        return new SyscallArgument(address, Quote(bytes, length > shown));
    }

    /// <summary>An argv: ["ls", "-l"], at most <see cref="ArgvLimit"/> shown; the values joined by spaces.</summary>
    public static SyscallArgument Argv(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        var parts = new List<string>();
        var values = new List<string>();
        bool more = false;
        for (int i = 0; ; i++)
        {
            if (memory.ReadValue<ulong>(address + (ulong)(i * 8)) is not { } p)
                return new SyscallArgument(address, Hex(address));
            if (p == 0)
                break;
            if (i == ArgvLimit)
            {
                more = true;
                break;
            }
            var s = memory.ReadCString(p, PathLimit, out bool truncated);
            parts.Add(s is null ? Hex(p) : Quote(s, truncated));
            values.Add(s is null ? "" : Encoding.UTF8.GetString(s));
        }
        string text = "[" + string.Join(", ", parts) + (more ? ", ..." : "") + "]";
        return new SyscallArgument(address, text) { Value = string.Join(' ', values) };
    }

    /// <summary>An environment: its address and how many variables it holds, as strace abbreviates it.</summary>
    public static SyscallArgument Environment(ITraceeMemory memory, ulong address)
    {
        if (address == 0)
            return new SyscallArgument(0, "NULL");
        int count = 0;
        while (count < 100000)
        {
            if (memory.ReadValue<ulong>(address + (ulong)(count * 8)) is not { } p)
                return new SyscallArgument(address, Hex(address));
            if (p == 0)
                break;
            count++;
        }
        return new SyscallArgument(address, $"{Hex(address)} /* {count} var{(count == 1 ? "" : "s")} */");
    }

    public static string Hex(ulong value) => "0x" + value.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
}
