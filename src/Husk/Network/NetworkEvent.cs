namespace Husk;

/// <summary>
/// One thing the sandbox did on the network, as the supervisor saw it: a DNS question or a
/// connection (TCP, or a UDP flow), allowed or refused, with the bytes each way.
/// </summary>
public sealed record NetworkEvent
{
    /// <summary>When it began.</summary>
    public required DateTimeOffset Time { get; init; }
    /// <summary>The sandbox process that made it (in the caller's pid namespace), where known.</summary>
    public int? Pid { get; init; }
    /// <summary>"dns", "tcp" or "udp".</summary>
    public required string Protocol { get; init; }
    /// <summary>The host name asked for or connected to (through the supervisor's DNS), if any.</summary>
    public string? Name { get; init; }
    /// <summary>The destination address (the real one the supervisor connected to, or the literal one refused).</summary>
    public string? Address { get; init; }
    /// <summary>The destination port.</summary>
    public int? Port { get; init; }
    /// <summary>"allowed", "logged", "refused" or "killed".</summary>
    public required string Verdict { get; init; }
    /// <summary>Why: the rule that decided, or what was missing.</summary>
    public string? Reason { get; init; }
    /// <summary>Bytes from the sandbox to the destination.</summary>
    public long BytesSent { get; init; }
    /// <summary>Bytes from the destination to the sandbox.</summary>
    public long BytesReceived { get; init; }

    /// <summary>The connection or name went ahead.</summary>
    public bool Allowed => Verdict is "allowed" or "logged";
}

/// <summary>What the sandbox did on the network (<see cref="SandboxResult.Network"/>).</summary>
public sealed record NetworkActivity
{
    /// <summary>The network mode: none, host, nat, bridge, or allowlist.</summary>
    public required string Mode { get; init; }
    /// <summary>The user-mode NAT helper that ran (pasta, slirp4netns), if any.</summary>
    public string? Helper { get; init; }
    /// <summary>Every DNS question and connection, in the order they began.</summary>
    public IReadOnlyList<NetworkEvent> Events { get; init; } = [];
    /// <summary>Connections and flows allowed.</summary>
    public int Allowed => Events.Count(e => e.Protocol != "dns" && e.Allowed);
    /// <summary>Connections, flows and names refused.</summary>
    public int Refused => Events.Count(e => !e.Allowed);
    /// <summary>Bytes the sandbox sent through the supervisor.</summary>
    public long BytesSent => Events.Sum(e => e.BytesSent);
    /// <summary>Bytes the sandbox received through the supervisor.</summary>
    public long BytesReceived => Events.Sum(e => e.BytesReceived);
}
