using System.Runtime.InteropServices;
using System.Text;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Resources;

/// <summary>
/// Small reads and writes of /proc and cgroup files with plain system calls: the supervisor
/// samples them many times a second, and a missing file (a process that just exited, a
/// controller that is off) is an answer, not an error.
/// </summary>
internal static class ProcFile
{
    [ThreadStatic]
    private static byte[]? _buffer;

    /// <summary>The file's text (up to 64 KiB), or null when it cannot be read.</summary>
    public static string? ReadText(string path) => ReadUpTo(path, 64 * 1024);

    /// <summary>The whole file's text however long (/proc/self/environ), or null when it cannot be read.</summary>
    public static string? ReadAllText(string path) => ReadUpTo(path, int.MaxValue);

    /// <summary>
    /// Reads up to <paramref name="max"/> bytes. Small files (nearly all of /proc) are read onto the
    /// stack: a cold start reads several, and a fresh 64 KiB buffer would cost it 16 page faults.
    /// Longer ones continue in a per-thread buffer that grows as needed.
    /// </summary>
    private static unsafe string? ReadUpTo(string path, int max)
    {
        if (TryOpen(path, O_RDONLY, out var fd) != 0)
            return null;
        using (fd)
        {
            const int Small = 4096;
            byte* small = stackalloc byte[Small];
            int total = 0;
            while (total < Math.Min(Small, max))
            {
                nint n = Read(fd!.Fd, small + total, (nuint)(Math.Min(Small, max) - total));
                if (n < 0)
                    return null;
                if (n == 0)
                    return Encoding.UTF8.GetString(small, total);
                total += (int)n;
            }
            if (total == max)
                return Encoding.UTF8.GetString(small, total);
            byte[] buffer = _buffer ??= new byte[64 * 1024];
            new ReadOnlySpan<byte>(small, total).CopyTo(buffer);
            while (total < max)
            {
                if (total == buffer.Length)
                {
                    Array.Resize(ref buffer, (int)Math.Min((long)buffer.Length * 2, max));
                    _buffer = buffer;
                }
                // The buffer may be longer than this read's limit (an earlier ReadAllText grew it).
                int end = Math.Min(buffer.Length, max);
                nint n;
                fixed (byte* p = buffer)
                    n = Read(fd!.Fd, p + total, (nuint)(end - total));
                if (n < 0)
                    return null;
                if (n == 0)
                    break;
                total += (int)n;
            }
            return Encoding.UTF8.GetString(buffer, 0, total);
        }
    }

    /// <summary>"key value" lines (cpu.stat, memory.events, smaps_rollup's "Key: value kB") as a dictionary.</summary>
    public static Dictionary<string, long> ReadKeyed(string path) => ParseKeyed(ReadText(path));

    /// <summary>As <see cref="ReadKeyed"/>, from text already read (null: empty).</summary>
    public static Dictionary<string, long> ParseKeyed(string? text)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        if (text is null)
            return result;
        foreach (var line in text.AsSpan().EnumerateLines())
        {
            var l = line.Trim();
            int sp = l.IndexOfAny(' ', '\t');
            if (sp <= 0)
                continue;
            var key = l[..sp].TrimEnd(':');
            var rest = l[(sp + 1)..].TrimStart();
            int end = rest.IndexOfAny(' ', '\t');
            if (end >= 0)
                rest = rest[..end];
            if (long.TryParse(rest, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long v))
                result[key.ToString()] = v;
        }
        return result;
    }

    /// <summary>The first number in the file ("max" and a missing file give null).</summary>
    public static long? ReadNumber(string path) => ParseNumber(ReadText(path));

    /// <summary>As <see cref="ReadNumber"/>, from text already read.</summary>
    public static long? ParseNumber(string? text)
    {
        text = text?.Trim();
        if (text is null)
            return null;
        int sp = text.IndexOfAny([' ', '\n']);
        if (sp > 0)
            text = text[..sp];
        return long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out long v) ? v : null;
    }

    /// <summary>Writes a value the way cgroup files want it: one write, no truncation; 0 or the errno.</summary>
    public static unsafe int TryWrite(string path, string value)
    {
        int err = TryOpen(path, O_WRONLY, out var fd);
        if (err != 0)
            return err;
        using (fd)
        {
            byte[] data = Encoding.ASCII.GetBytes(value);
            fixed (byte* p = data)
            {
                while (true)
                {
                    nint n = Interop.Interop.Write(fd!.Fd, p, (nuint)data.Length);
                    if (n == data.Length)
                        return 0;
                    int e = n < 0 ? Marshal.GetLastPInvokeError() : (int)Errno.EIO;
                    if (e != (int)Errno.EINTR)
                        return e;
                }
            }
        }
    }

}
