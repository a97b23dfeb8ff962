using System.Collections.Frozen;

namespace Husk.Tracing;

/// <summary>
/// The classes of system calls that strace's <c>-e trace=%CLASS</c> names (file, network, process,
/// signal, memory, desc, ipc, creds, clock, stat, lstat, fstat, %stat, statfs, fstatfs, %statfs,
/// pure; "net" is network), and how many arguments each call takes.
/// </summary>
internal static partial class SyscallClasses
{
    // Lazy: the tables are in the generated part, whose static fields may be set after this part's.
    private static readonly Lazy<FrozenDictionary<string, string[]>> ByClassTable = new(() =>
        Table.Append((Class: "net", Names: Table.First(t => t.Class == "network").Names)).ToFrozenDictionary(t => t.Class, t => t.Names, StringComparer.Ordinal));

    private static readonly Lazy<FrozenDictionary<string, byte>> ArityTable = new(() => Arity.ToFrozenDictionary(a => a.Name, a => a.Count, StringComparer.Ordinal));

    private static FrozenDictionary<string, string[]> ByClass => ByClassTable.Value;

    private static FrozenDictionary<string, byte> ArityByName => ArityTable.Value;

    /// <summary>The class names, without their %.</summary>
    public static IEnumerable<string> Names => ByClass.Keys;

    /// <summary>The calls of class <paramref name="name"/> (without its %), or null for no such class.</summary>
    public static IReadOnlyList<string>? Members(string name) => ByClass.GetValueOrDefault(name);

    /// <summary>How many arguments <paramref name="syscall"/> takes (6 when unknown: all are shown).</summary>
    public static int ArgumentCount(string syscall) => ArityByName.TryGetValue(syscall, out byte n) ? n : 6;
}
