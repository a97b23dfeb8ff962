using System.Globalization;
using System.Text;
using System.Text.Json;
using Husk.Interop;
using Husk.Logging;

namespace Husk.Cli;

/// <summary>How a front door's log lines look.</summary>
internal enum LogStyle
{
    /// <summary>Husk's own: "husk: info: MESSAGE key=value ...", or JSON lines with time, level, sandbox, msg.</summary>
    Husk,
    /// <summary>Go's log/slog handlers, as microbox writes them: "time=... level=INFO msg=... pid=N key=value".</summary>
    Slog,
}

/// <summary>
/// The command line's <see cref="ILogSink"/>: one line per event, text or JSON, written whole to a
/// descriptor (husk run: standard error; microbox: standard output, as its logger). Lines from the
/// engine's threads never interleave.
/// </summary>
internal sealed class LogSink(LogLevel level, bool json, string sandboxId, int fd = 2, LogStyle style = LogStyle.Husk, string program = "husk") : ILogSink
{
    private readonly object _gate = new();

    public LogLevel Level { get; } = level;
    public bool Json { get; } = json;

    public bool IsEnabled(LogLevel level) => level <= Level;

    public void Write(LogEvent logEvent)
    {
        if (!IsEnabled(logEvent.Level))
            return;
        string line = Format(logEvent) + "\n";
        lock (_gate)
        {
            try
            {
                Interop.Interop.WriteAll(fd, Encoding.UTF8.GetBytes(line));
            }
            catch (SyscallException)
            {
                // A log with nowhere to go must not stop the sandbox.
            }
        }
    }

    /// <summary>Writes a line of the front door's own (its errors), now.</summary>
    public void Write(LogLevel level, string message, params LogField[] fields) => Write(new LogEvent(DateTimeOffset.Now, level, message, [.. fields]));

    /// <summary>The event as one line, without the newline.</summary>
    public string Format(LogEvent e) => (style, Json) switch
    {
        (LogStyle.Slog, false) => SlogText(e),
        (LogStyle.Slog, true) => JsonLine(e, slog: true),
        (_, false) => HuskText(e),
        _ => JsonLine(e, slog: false),
    };

    private string HuskText(LogEvent e)
    {
        var sb = new StringBuilder(program).Append(": ").Append(LevelWord(e.Level)).Append(": ").Append(e.Message);
        foreach (var f in e.Fields)
        {
            if (f.Value is null)
                continue;
            sb.Append(' ').Append(f.Name).Append('=').Append(TextValue(f.Value));
        }
        return sb.ToString();
    }

    private string SlogText(LogEvent e)
    {
        var sb = new StringBuilder("time=").Append(e.Time.ToString("yyyy-MM-dd'T'HH:mm:ss.fffK", CultureInfo.InvariantCulture).Replace("+00:00", "Z", StringComparison.Ordinal))
            .Append(" level=").Append(LevelWord(e.Level).ToUpperInvariant())
            .Append(" msg=").Append(TextValue(e.Message))
            .Append(" pid=").Append(Environment.ProcessId.ToString(CultureInfo.InvariantCulture))
            .Append(" sandbox=").Append(TextValue(sandboxId));
        foreach (var f in e.Fields)
        {
            if (f.Value is null)
                continue;
            sb.Append(' ').Append(f.Name).Append('=').Append(TextValue(f.Value));
        }
        return sb.ToString();
    }

    private string JsonLine(LogEvent e, bool slog)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("time", e.Time.ToString(slog ? "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK" : "yyyy-MM-dd'T'HH:mm:ss.ffffffK", CultureInfo.InvariantCulture).Replace("+00:00", "Z", StringComparison.Ordinal));
            w.WriteString("level", slog ? LevelWord(e.Level).ToUpperInvariant() : LevelWord(e.Level));
            w.WriteString("msg", e.Message);
            if (slog)
                w.WriteNumber("pid", Environment.ProcessId);
            w.WriteString("sandbox", sandboxId);
            foreach (var f in e.Fields)
            {
                switch (f.Value)
                {
                    case null:
                        break;
                    case bool b:
                        w.WriteBoolean(f.Name, b);
                        break;
                    case int or long or uint:
                        w.WriteNumber(f.Name, Convert.ToInt64(f.Value, CultureInfo.InvariantCulture));
                        break;
                    default:
                        w.WriteString(f.Name, Convert.ToString(f.Value, CultureInfo.InvariantCulture));
                        break;
                }
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string LevelWord(LogLevel level) => level switch
    {
        LogLevel.Error => "error",
        LogLevel.Warn => "warn",
        LogLevel.Info => "info",
        _ => "debug",
    };

    /// <summary>A value as slog's text handler writes it: bare unless empty or holding spaces, quotes, '=' or control characters.</summary>
    internal static string TextValue(object value)
    {
        string s = value switch
        {
            bool b => b ? "true" : "false",
            _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
        };
        bool quote = s.Length == 0 || s.Any(c => c is ' ' or '"' or '=' || char.IsControl(c) || char.IsWhiteSpace(c));
        return quote ? Quote(s) : s;
    }

    /// <summary>Go's strconv.Quote for the common cases: backslash, quote and control characters escaped.</summary>
    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\t' => "\\t",
                '\r' => "\\r",
                _ when char.IsControl(c) => $"\\x{(int)c:x2}",
                _ => c.ToString(),
            });
        }
        return sb.Append('"').ToString();
    }

    /// <summary>Parses --log-level's value (microbox's: info, warn, error; husk's: those and debug).</summary>
    public static LogLevel? ParseLevel(string value) => value switch
    {
        "error" => LogLevel.Error,
        "warn" => LogLevel.Warn,
        "info" => LogLevel.Info,
        "debug" => LogLevel.Debug,
        _ => null,
    };
}
