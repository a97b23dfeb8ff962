using System.Globalization;

namespace Husk.Tracing;

/// <summary>Values that name one thing each (SEEK_SET, F_GETFL, CLOCK_MONOTONIC): the name, or the number.</summary>
internal sealed class ValueTable(params (long Value, string Name)[] values)
{
    private readonly Dictionary<long, string> _names = values.ToDictionary(v => v.Value, v => v.Name);

    public string? Name(long value) => _names.GetValueOrDefault(value);

    public string Decode(long value, bool hex = false) =>
        Name(value) ?? (hex ? "0x" + value.ToString("x", CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture));
}
