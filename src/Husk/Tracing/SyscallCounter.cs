using System.Collections.Immutable;
using Husk.Policy;

namespace Husk.Tracing;

/// <summary>
/// Counts calls, errors and time per system call for the whole tree, as strace -c does: the time
/// of a call is the system time its process spent between the call's entry and its return.
/// Used by the tracer thread only; <see cref="Snapshot"/> may be taken from any thread.
/// </summary>
internal sealed class SyscallCounter
{
    private readonly object _gate = new();
    private readonly Dictionary<int, Row> _rows = [];

    private sealed class Row
    {
        public long Calls;
        public long Errors;
        public long TimeTicks;
        public long WallTicks;
    }

    public void Add(int number, bool failed, TimeSpan systemTime, TimeSpan wall)
    {
        lock (_gate)
        {
            if (!_rows.TryGetValue(number, out var row))
                _rows[number] = row = new Row();
            row.Calls++;
            if (failed)
                row.Errors++;
            row.TimeTicks += Math.Max(0, systemTime.Ticks);
            row.WallTicks += Math.Max(0, wall.Ticks);
        }
    }

    /// <summary>The rows so far, by time (most first), then by number, as strace sorts them.</summary>
    public ImmutableArray<SyscallCount> Snapshot()
    {
        var table = SyscallTable.Native;
        lock (_gate)
        {
            return [.. _rows
                .Select(p => new SyscallCount(table.Name(p.Key) ?? $"syscall_{p.Key}", p.Key, p.Value.Calls, p.Value.Errors,
                    TimeSpan.FromTicks(p.Value.TimeTicks), TimeSpan.FromTicks(p.Value.WallTicks)))
                .OrderByDescending(c => c.Time).ThenBy(c => c.Number)];
        }
    }
}
