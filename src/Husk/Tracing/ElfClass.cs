namespace Husk.Tracing;

/// <summary>
/// Which ABI a program runs in, from its ELF header: the tracer decodes only the native one, and
/// says so when a traced process executes a 32-bit (i386, arm) or x32 program.
/// </summary>
internal static class ElfClass
{
    /// <summary>"32-bit (i386)", "x32" or "32-bit (arm)" for a foreign ABI; null for a native (or unreadable) program.</summary>
    public static string? Foreign(ReadOnlySpan<byte> header)
    {
        if (header.Length < 20 || header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
            return null;
        bool is32 = header[4] == 1;
        int machine = header[18] | header[19] << 8;
        if (!is32)
            return null;
        return machine switch
        {
            62 => "x32",
            3 => "32-bit (i386)",
            40 => "32-bit (arm)",
            _ => "32-bit",
        };
    }

    /// <summary>The ABI of the program a process runs now (/proc/TID/exe).</summary>
    public static string? ForeignOf(int tid)
    {
        try
        {
            using var f = File.OpenRead($"/proc/{tid}/exe");
            Span<byte> header = stackalloc byte[20];
            return f.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) == header.Length ? Foreign(header) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
