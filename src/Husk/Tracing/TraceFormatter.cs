using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Husk.Tracing;

/// <summary>
/// Trace events as lines: strace's (<c>[pid 2] openat(AT_FDCWD, "/etc/hosts", O_RDONLY) = 3 &lt;0.000012&gt;</c>,
/// <c>--- SIGCHLD {...} ---</c>, <c>+++ exited with 0 +++</c>), JSON with the same fields, or mbox's
/// <c>-d</c> lines (the call at entry, <c>&gt; [    2] openat(...</c>, and its return, <c>&lt; ) = 3</c>).
/// </summary>
internal static class TraceFormatter
{
    /// <summary>The event as a line in <paramref name="format"/>, with its newline.</summary>
    public static string Line(SyscallEvent e, TraceFormat format) => format switch
    {
        TraceFormat.Json => Json(e) + "\n",
        TraceFormat.Mbox => Mbox(e),
        _ => "[pid " + e.Pid.ToString(CultureInfo.InvariantCulture) + "] " + Body(e) + "\n",
    };

    /// <summary>The event without the pid: <c>openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory) &lt;0.000010&gt;</c>.</summary>
    public static string Body(SyscallEvent e) => e.Kind switch
    {
        TraceEventKind.Syscall => Call(e) + " = " + Result(e) + " <" + Seconds(e.Duration) + ">",
        TraceEventKind.Signal => "--- " + e.Name + " " + (e.Arguments.IsDefaultOrEmpty ? "" : e.Arguments[0].Text + " ") + "---",
        TraceEventKind.Exited => "+++ exited with " + e.Number.ToString(CultureInfo.InvariantCulture) + " +++",
        TraceEventKind.Killed => "+++ killed by " + e.Name + " +++",
        _ => e.Name,
    };

    /// <summary>name(arg, arg, ...).</summary>
    public static string Call(SyscallEvent e)
    {
        var sb = new StringBuilder(e.Name).Append('(');
        for (int i = 0; i < e.Arguments.Length; i++)
        {
            if (i > 0)
                sb.Append(", ");
            sb.Append(e.Arguments[i].Text);
        }
        return sb.Append(')').ToString();
    }

    /// <summary>What the call returned, as strace shows it.</summary>
    public static string Result(SyscallEvent e) =>
        ArgumentDecoder.Return(SyscallSignatures.Of(e.Name).Return, e.ReturnValue, e.Error is { } err ? (int)err : null);

    private static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.000000", CultureInfo.InvariantCulture);

    /// <summary>
    /// One JSON object: pid, host_pid, time (ISO 8601), and by kind: syscall, nr, args (decoded
    /// texts), values (what paths and addresses name, or null), ret, errno and error (when it
    /// failed), duration (seconds); signal and info; exited (status); killed (signal); notice.
    /// </summary>
    public static string Json(SyscallEvent e)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteNumber("pid", e.Pid);
            w.WriteNumber("host_pid", e.HostPid);
            w.WriteString("time", e.Time.ToString("o", CultureInfo.InvariantCulture));
            switch (e.Kind)
            {
                case TraceEventKind.Syscall:
                    w.WriteString("syscall", e.Name);
                    w.WriteNumber("nr", e.Number);
                    w.WriteStartArray("args");
                    foreach (var a in e.Arguments)
                        w.WriteStringValue(a.Text);
                    w.WriteEndArray();
                    w.WriteStartArray("values");
                    foreach (var a in e.Arguments)
                    {
                        if (a.Value is { } v)
                            w.WriteStringValue(v);
                        else
                            w.WriteNullValue();
                    }
                    w.WriteEndArray();
                    if (e.ReturnValue is { } r)
                        w.WriteNumber("ret", r);
                    else
                        w.WriteNull("ret");
                    if (e.Error is { } err)
                    {
                        w.WriteString("errno", ErrnoText.Name((int)err));
                        w.WriteString("error", ErrnoText.Message((int)err));
                    }
                    w.WriteNumber("duration", Math.Round(e.Duration.TotalSeconds, 6));
                    break;
                case TraceEventKind.Signal:
                    w.WriteString("signal", e.Name);
                    if (!e.Arguments.IsDefaultOrEmpty)
                        w.WriteString("info", e.Arguments[0].Text);
                    break;
                case TraceEventKind.Exited:
                    w.WriteNumber("exited", e.Number);
                    break;
                case TraceEventKind.Killed:
                    w.WriteString("killed", e.Name);
                    break;
                default:
                    w.WriteString("notice", e.Name);
                    break;
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>mbox's -d lines (strace 4.7's, as mbox changed them): the call at entry, its return on the next line.</summary>
    public static string Mbox(SyscallEvent e)
    {
        string leader = "> [" + e.Pid.ToString(CultureInfo.InvariantCulture).PadLeft(5) + "] ";
        if (e.Kind != TraceEventKind.Syscall)
            return leader + Body(e) + "\n";
        string entry = leader + e.Name + "(" + string.Join(", ", e.Arguments.Select(a => a.Text));
        // mbox pads the return to column 40, counting from the start of the entry line.
        int column = entry.Length + 1 + 4;
        return entry + "\n< ) " + new string(' ', Math.Max(0, 40 - column)) + "= " + Result(e) + "\n";
    }
}
