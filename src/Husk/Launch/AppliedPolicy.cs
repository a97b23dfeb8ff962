using System.Collections.Immutable;
using System.Text.Json;
using Husk.Policy;

namespace Husk.Launch;

/// <summary>
/// The walls a payload got, as planned: its seccomp programs, Landlock rules, capabilities and
/// no_new_privs. <c>husk enter</c> gives a process that joins the sandbox exactly these, so
/// entering never weakens a sandbox (the registry keeps them as JSON).
/// </summary>
internal sealed record AppliedPolicy(ImmutableArray<ImmutableArray<byte>> Seccomp, LandlockPolicy? Landlock, CapabilitySet? Capabilities, bool NoNewPrivileges)
{
    /// <summary>A spec that carries these walls: raw seccomp programs, explicit Landlock rules.</summary>
    public SandboxSpec ApplyTo(SandboxSpec spec) => spec with
    {
        Seccomp = new SeccompSpec { Profile = null, RawPrograms = Seccomp },
        Landlock = Landlock is null ? LandlockSpec.Off : LandlockSpec.Rules(Landlock),
        Capabilities = Capabilities,
        NoNewPrivileges = NoNewPrivileges,
    };

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartArray("seccomp");
        foreach (var program in Seccomp)
            w.WriteBase64StringValue(program.AsSpan());
        w.WriteEndArray();
        if (Landlock is { } l)
        {
            w.WriteStartObject("landlock");
            w.WriteStartArray("paths");
            foreach (var rule in l.Paths)
            {
                w.WriteStartObject();
                w.WriteString("path", rule.Path);
                w.WriteNumber("access", (ulong)rule.Access);
                w.WriteBoolean("optional", rule.Optional);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteBoolean("restrict_tcp", l.RestrictTcp);
            WritePorts(w, "tcp_bind", l.TcpBindPorts);
            WritePorts(w, "tcp_connect", l.TcpConnectPorts);
            w.WriteBoolean("scope_abstract_unix_sockets", l.ScopeAbstractUnixSockets);
            w.WriteBoolean("scope_signals", l.ScopeSignals);
            w.WriteBoolean("strict", l.Strict);
            w.WriteEndObject();
        }
        if (Capabilities is { } c)
        {
            w.WriteStartObject("capabilities");
            w.WriteNumber("bounding", c.Bounding);
            w.WriteNumber("permitted", c.Permitted);
            w.WriteNumber("effective", c.Effective);
            w.WriteNumber("inheritable", c.Inheritable);
            w.WriteNumber("ambient", c.Ambient);
            w.WriteBoolean("lock_securebits", c.LockSecureBits);
            w.WriteBoolean("only_raise_ambient", c.OnlyRaiseAmbient);
            w.WriteEndObject();
        }
        w.WriteBoolean("no_new_privs", NoNewPrivileges);
        w.WriteEndObject();
    }

    private static void WritePorts(Utf8JsonWriter w, string name, ImmutableArray<ushort> ports)
    {
        w.WriteStartArray(name);
        foreach (ushort p in ports)
            w.WriteNumberValue(p);
        w.WriteEndArray();
    }

    /// <summary>Reads what <see cref="Write"/> wrote; throws <see cref="JsonException"/> or <see cref="KeyNotFoundException"/> on anything else.</summary>
    public static AppliedPolicy Read(JsonElement e)
    {
        var seccomp = e.GetProperty("seccomp").EnumerateArray().Select(p => ImmutableArray.Create(p.GetBytesFromBase64())).ToImmutableArray();
        LandlockPolicy? landlock = null;
        if (e.TryGetProperty("landlock", out var l))
        {
            landlock = new LandlockPolicy
            {
                Paths = [.. l.GetProperty("paths").EnumerateArray().Select(r =>
                    new LandlockPathRule(r.GetProperty("path").GetString()!, (LandlockFsAccess)r.GetProperty("access").GetUInt64()) { Optional = r.GetProperty("optional").GetBoolean() })],
                RestrictTcp = l.GetProperty("restrict_tcp").GetBoolean(),
                TcpBindPorts = [.. l.GetProperty("tcp_bind").EnumerateArray().Select(p => p.GetUInt16())],
                TcpConnectPorts = [.. l.GetProperty("tcp_connect").EnumerateArray().Select(p => p.GetUInt16())],
                ScopeAbstractUnixSockets = l.GetProperty("scope_abstract_unix_sockets").GetBoolean(),
                ScopeSignals = l.GetProperty("scope_signals").GetBoolean(),
                Strict = l.GetProperty("strict").GetBoolean(),
            };
        }
        CapabilitySet? caps = null;
        if (e.TryGetProperty("capabilities", out var c))
        {
            caps = new CapabilitySet
            {
                Bounding = c.GetProperty("bounding").GetUInt64(),
                Permitted = c.GetProperty("permitted").GetUInt64(),
                Effective = c.GetProperty("effective").GetUInt64(),
                Inheritable = c.GetProperty("inheritable").GetUInt64(),
                Ambient = c.GetProperty("ambient").GetUInt64(),
                LockSecureBits = c.GetProperty("lock_securebits").GetBoolean(),
                OnlyRaiseAmbient = c.GetProperty("only_raise_ambient").GetBoolean(),
            };
        }
        return new AppliedPolicy(seccomp, landlock, caps, e.GetProperty("no_new_privs").GetBoolean());
    }
}
