using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Husk.Network;

/// <summary>
/// The supervisor's record of network events: kept for the result (<see cref="NetworkActivity"/>)
/// and written to <c>--net-log</c> as JSON lines (time, pid, protocol, name, address, port,
/// verdict, reason, bytes each way) as each event ends. Thread-safe.
/// </summary>
internal sealed class NetworkLog : IDisposable
{
    private readonly object _gate = new();
    private readonly List<NetworkEvent> _events = [];
    private readonly Stream? _file;

    public NetworkLog(string? file)
    {
        if (file is not null)
            _file = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read, 4096);
    }

    /// <summary>Records an event (a DNS question or a connection that has ended or was refused).</summary>
    public void Add(NetworkEvent e)
    {
        byte[]? line = _file is null ? null : Encoding.UTF8.GetBytes(ToJson(e) + "\n");
        lock (_gate)
        {
            _events.Add(e);
            if (line is not null)
            {
                try
                {
                    _file!.Write(line);
                    _file.Flush();
                }
                catch (Exception failure) when (failure is IOException or ObjectDisposedException)
                {
                    // a full disk must not break the sandbox's network, nor a flow logged after the session closed the file
                }
            }
        }
    }

    /// <summary>Every event so far, ordered by when it began.</summary>
    public IReadOnlyList<NetworkEvent> Events
    {
        get
        {
            lock (_gate)
                return [.. _events.OrderBy(e => e.Time)];
        }
    }

    /// <summary>One event as a JSON object (one line).</summary>
    public static string ToJson(NetworkEvent e)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            Write(w, e);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>The event's fields into an open JSON object.</summary>
    public static void Write(Utf8JsonWriter w, NetworkEvent e)
    {
        w.WriteString("time", e.Time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
        if (e.Pid is { } pid)
            w.WriteNumber("pid", pid);
        else
            w.WriteNull("pid");
        w.WriteString("protocol", e.Protocol);
        if (e.Name is { } name)
            w.WriteString("name", name);
        else
            w.WriteNull("name");
        if (e.Address is { } address)
            w.WriteString("address", address);
        else
            w.WriteNull("address");
        if (e.Port is { } port)
            w.WriteNumber("port", port);
        else
            w.WriteNull("port");
        w.WriteString("verdict", e.Verdict);
        if (e.Reason is { } reason)
            w.WriteString("reason", reason);
        w.WriteNumber("bytes_sent", e.BytesSent);
        w.WriteNumber("bytes_received", e.BytesReceived);
    }

    /// <summary>The verdict word of a decision.</summary>
    public static string VerdictOf(EgressAction action) => action switch
    {
        EgressAction.Allow => "allowed",
        EgressAction.Log => "logged",
        EgressAction.Kill => "killed",
        _ => "refused",
    };

    public void Dispose()
    {
        lock (_gate)
            _file?.Dispose();
    }
}
