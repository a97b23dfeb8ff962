namespace Husk.Policy;

/// <summary>
/// System call names and numbers of one architecture, generated from the kernel's own tables
/// (tools/gen-syscalls.py; checked against &lt;asm/unistd.h&gt; by a test).
/// </summary>
public sealed class SyscallTable
{
    // Built on first use, with plain dictionaries: husk run looks a few hundred names up once, which
    // costs less than building frozen ones (measured in the cold start).
    private static readonly Lazy<SyscallTable> X86_64 = new(() => new(SeccompArchitecture.X86_64, SyscallTables.X86_64));
    private static readonly Lazy<SyscallTable> Aarch64 = new(() => new(SeccompArchitecture.Aarch64, SyscallTables.Aarch64));

    private readonly Dictionary<string, int> _byName;
    private readonly Dictionary<int, string> _byNumber;

    private SyscallTable(SeccompArchitecture arch, (string Name, int Number)[] rows)
    {
        Architecture = arch;
        _byName = new Dictionary<string, int>(rows.Length, StringComparer.Ordinal);
        _byNumber = new Dictionary<int, string>(rows.Length);
        foreach (var (name, number) in rows)
        {
            _byName[name] = number;
            _byNumber[number] = name;
            MaxNumber = Math.Max(MaxNumber, number);
        }
    }

    /// <summary>The table of an architecture.</summary>
    public static SyscallTable For(SeccompArchitecture arch) => arch switch
    {
        SeccompArchitecture.X86_64 => X86_64.Value,
        SeccompArchitecture.Aarch64 => Aarch64.Value,
        _ => throw new ArgumentOutOfRangeException(nameof(arch)),
    };

    /// <summary>The table of the architecture this process runs on.</summary>
    public static SyscallTable Native => For(SeccompArchitectures.Native);

    /// <summary>True when <paramref name="name"/> is a system call of any architecture Husk knows.</summary>
    public static bool IsKnown(string name) => X86_64.Value._byName.ContainsKey(name) || Aarch64.Value._byName.ContainsKey(name);

    /// <summary>The architecture.</summary>
    public SeccompArchitecture Architecture { get; }

    /// <summary>The highest system call number in the table: anything above is newer than Husk.</summary>
    public int MaxNumber { get; }

    /// <summary>Every name in the table.</summary>
    public IEnumerable<string> Names => _byName.Keys;

    /// <summary>The number of <paramref name="name"/>, or null when this architecture lacks it.</summary>
    public int? Number(string name) => _byName.TryGetValue(name, out int n) ? n : null;

    /// <summary>The name of system call <paramref name="number"/>, or null.</summary>
    public string? Name(int number) => _byNumber.GetValueOrDefault(number);
}
