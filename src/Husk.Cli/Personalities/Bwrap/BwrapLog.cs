using System.Text;
using Husk.Interop;

namespace Husk.Cli.Personalities.Bwrap;

/// <summary>bubblewrap stops: print nothing more and exit with <see cref="Code"/>.</summary>
internal sealed class BwrapExit(int code) : Exception($"exit {code}")
{
    public int Code { get; } = code;
}

/// <summary>A fatal error, worded as bubblewrap words it (without the "bwrap: " prefix).</summary>
internal sealed class BwrapError(string message) : Exception(message);

/// <summary>
/// bubblewrap's diagnostics: one line on stderr, "bwrap: " first, and with --level-prefix the
/// syslog level before that ("&lt;3&gt;" for errors, "&lt;4&gt;" for warnings).
/// </summary>
internal sealed class BwrapLog(Action<string>? sink = null)
{
    public const int Error = 3;
    public const int Warning = 4;

    private readonly Action<string> _sink = sink ?? WriteStderr;

    public bool LevelPrefix { get; set; }

    public void Warn(string message) => Log(Warning, message);

    public void Log(int level, string message) =>
        _sink((LevelPrefix ? $"<{level}>" : "") + "bwrap: " + message + "\n");

    /// <summary>strerror's text for an errno.</summary>
    public static string StrError(Errno errno) => SyscallException.Describe(errno);

    /// <summary>bubblewrap's wording of mount errors: ENOSPC means a mount limit, not a full disk.</summary>
    public static string MountStrError(Errno errno) => errno == Errno.ENOSPC
        ? "Limit exceeded (ENOSPC). (Hint: Check that /proc/sys/fs/mount-max is sufficient, typically 100000)"
        : StrError(errno);

    public static void WriteStderr(string text) => WriteFd(2, text);

    public static void WriteFd(int fd, string text)
    {
        try
        {
            Interop.Interop.WriteAll(fd, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException)
        {
            // Nowhere left to report it.
        }
    }
}
