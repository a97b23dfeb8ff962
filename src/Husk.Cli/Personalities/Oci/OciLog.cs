using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// runc's log: errors (and warnings, and with --debug debug lines) appended to <c>--log FILE</c>,
/// as logrus writes them: JSON lines <c>{"level":"error","msg":"...","time":"..."}</c> with
/// <c>--log-format json</c> (containerd and podman read the last error from there), otherwise
/// <c>time="..." level=error msg="..."</c>. Without --log they go to stderr. An error is also
/// printed on stderr, as runc does.
/// </summary>
internal sealed class OciLog
{
    private readonly string? _file;
    private readonly bool _json;
    private readonly bool _debug;

    public OciLog(string? file, string? format, bool debug)
    {
        _file = file is { Length: > 0 } ? file : null;
        _json = format == "json";
        _debug = debug;
        if (format is not (null or "" or "json" or "text"))
            throw new OciUsageException($"invalid log-format: {format}");
    }

    public void Error(string message)
    {
        Write("error", message);
        if (_file is not null)
            Console.Error.WriteLine(message);
    }

    public void Warning(string message) => Write("warning", message);

    public void Debug(string message)
    {
        if (_debug)
            Write("debug", message);
    }

    /// <summary>One line in the log's format.</summary>
    internal string Format(string level, string message, DateTimeOffset time)
    {
        // UTC with a 'Z', as logrus writes it under TZ=UTC: Go's time.Time reads the quoted JSON
        // bytes as they are, so an offset's '+' (which the JSON writer escapes as \u002B) would make
        // containerd's shim fail to read the error at all.
        string stamp = time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
        if (_json)
        {
            var ms = new MemoryStream();
            using (var w = new Utf8JsonWriter(ms))
            {
                w.WriteStartObject();
                w.WriteString("level", level);
                w.WriteString("msg", message);
                w.WriteString("time", stamp);
                w.WriteEndObject();
            }
            return Encoding.UTF8.GetString(ms.ToArray());
        }
        return $"time=\"{stamp}\" level={level} msg=\"{message.Replace("\\", "\\\\").Replace("\"", "\\\"")}\"";
    }

    private void Write(string level, string message)
    {
        string line = Format(level, message, DateTimeOffset.Now) + "\n";
        if (_file is null)
        {
            Console.Error.Write(_json ? line : level == "error" ? message + "\n" : line);
            return;
        }
        try
        {
            File.AppendAllText(_file, line);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"husk-runtime: cannot write the log {_file}: {ErrorText.Reason(e)}");
            Console.Error.Write(line);
        }
    }
}
