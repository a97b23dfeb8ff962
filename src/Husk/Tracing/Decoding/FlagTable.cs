using System.Globalization;
using System.Text;

namespace Husk.Tracing;

/// <summary>
/// A set of flags as names: the bits a table names joined with |, the rest in hex, and the
/// table's name for 0. Tables list composite flags (O_SYNC, O_TMPFILE) before their parts. An
/// optional field in the low bits (the open access mode, the mmap type, clone's exit signal)
/// is named first.
/// </summary>
internal sealed class FlagTable(string zero, params (ulong Value, string Name)[] flags)
{
    public string Zero { get; } = zero;
    public (ulong Value, string Name)[] Flags { get; } = flags;

    /// <summary>The low bits that hold a value rather than flags, and how they are named.</summary>
    public (ulong Mask, Func<ulong, string?> Name)? Field { get; init; }

    /// <summary>The field is named after the flags (clone's exit signal: CLONE_VM|SIGCHLD).</summary>
    public bool FieldLast { get; init; }

    public string Decode(ulong value)
    {
        var sb = new StringBuilder();
        ulong rest = value;
        string? fieldName = null;
        if (Field is { } field)
        {
            ulong v = value & field.Mask;
            rest &= ~field.Mask;
            fieldName = field.Name(v);
            if (fieldName is null && v != 0)
                rest |= v;
        }
        if (fieldName is not null && !FieldLast)
            sb.Append(fieldName);
        foreach (var (bit, name) in Flags)
        {
            if (bit != 0 && (rest & bit) == bit)
            {
                if (sb.Length > 0)
                    sb.Append('|');
                sb.Append(name);
                rest &= ~bit;
            }
        }
        if (rest != 0)
        {
            if (sb.Length > 0)
                sb.Append('|');
            sb.Append("0x").Append(rest.ToString("x", CultureInfo.InvariantCulture));
        }
        if (fieldName is not null && FieldLast)
            sb.Append(sb.Length > 0 ? "|" : "").Append(fieldName);
        return sb.Length > 0 ? sb.ToString() : Zero;
    }
}
