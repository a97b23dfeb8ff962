using Husk.Policy;

namespace Husk.Tests.Policy;

/// <summary>The generated tables agree with the C headers of this machine (which may be older: then only the shared part is compared).</summary>
public class SyscallTableTests
{
    private static Dictionary<string, int> HeaderNumbers(string include, params string[] defines)
    {
        string dir = Directory.CreateTempSubdirectory("husk-nr").FullName;
        try
        {
            string src = Path.Combine(dir, "list.c");
            File.WriteAllText(src, string.Concat(defines.Select(d => $"#define {d}\n")) + $"#include <{include}>\n");
            var (code, macros, err) = TestEnvironment.Exec("gcc", ["-E", "-dM", src]);
            Assert.True(code == 0, err);
            var names = macros.Split('\n')
                .Select(l => l.Split(' '))
                .Where(f => f.Length >= 3 && f[0] == "#define" && f[1].StartsWith("__NR_", StringComparison.Ordinal) && f[1] != "__NR_syscalls" && !f[1].Contains('('))
                .Select(f => f[1])
                .Distinct()
                .ToList();
            string prog = Path.Combine(dir, "print.c");
            File.WriteAllText(prog, string.Concat(defines.Select(d => $"#define {d}\n")) + $"#include <stdio.h>\n#include <{include}>\nint main(void) {{\n"
                + string.Concat(names.Select(n => $"    printf(\"%s %ld\\n\", \"{n[5..]}\", (long)({n}));\n")) + "    return 0;\n}\n");
            var (cc, _, ccErr) = TestEnvironment.Exec("gcc", ["-w", "-o", Path.Combine(dir, "print"), prog]);
            Assert.True(cc == 0, ccErr);
            var (rc, output, _) = TestEnvironment.Exec(Path.Combine(dir, "print"), []);
            Assert.Equal(0, rc);
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(f => f[0], f => int.Parse(f[1]));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    // Never implemented and dropped from scripts/syscall.tbl after the 6.1 headers were cut.
    private static readonly string[] Removed = ["nfsservctl"];

    private static void AssertAgrees(SyscallTable table, Dictionary<string, int> header)
    {
        Assert.True(header.Count > 250, $"only {header.Count} names in the header");
        foreach (var (name, number) in header)
        {
            if (name.StartsWith("arch_specific_syscall", StringComparison.Ordinal) || (Removed.Contains(name) && table.Number(name) is null))
                continue;
            Assert.True(table.Number(name) == number, $"{name}: header {number}, table {table.Number(name)?.ToString() ?? "missing"}");
        }
        // A call newer than the header may be missing from it, but its number is not another call's.
        var byNumber = header.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Select(kv => kv.Key).ToList());
        foreach (string name in table.Names)
        {
            int n = table.Number(name)!.Value;
            if (!header.ContainsKey(name) && byNumber.TryGetValue(n, out var others))
                Assert.Fail($"{name} is {n} in the table, which the header gives to {string.Join(", ", others)}");
        }
    }

    [Fact]
    public void X86_64_table_matches_asm_unistd_64_h()
    {
        if (!File.Exists("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"))
            Assert.Skip("no x86_64 kernel headers (linux-libc-dev)");
        AssertAgrees(SyscallTable.For(SeccompArchitecture.X86_64), HeaderNumbers("asm/unistd_64.h"));
    }

    [Fact]
    public void Aarch64_table_matches_the_generic_unistd_h_as_arm64_builds_it()
    {
        if (!File.Exists("/usr/include/asm-generic/unistd.h"))
            Assert.Skip("no asm-generic/unistd.h (linux-libc-dev)");
        // arm64's asm/unistd.h: these __ARCH_WANT_* and the generic table, 64-bit.
        var header = HeaderNumbers("asm-generic/unistd.h",
            "__ARCH_WANT_RENAMEAT", "__ARCH_WANT_NEW_STAT", "__ARCH_WANT_SET_GET_RLIMIT", "__ARCH_WANT_SYS_CLONE3", "__ARCH_WANT_MEMFD_SECRET");
        AssertAgrees(SyscallTable.For(SeccompArchitecture.Aarch64), header);
    }

    [Fact]
    public void The_native_table_knows_what_this_kernel_runs()
    {
        var table = SyscallTable.Native;
        foreach (string name in new[] { "openat", "clone3", "rseq", "statx", "openat2", "faccessat2", "close_range", "epoll_pwait2", "landlock_restrict_self", "getrandom", "mseal" })
            Assert.NotNull(table.Number(name));
        Assert.True(SyscallTable.IsKnown("chown"));
        Assert.False(SyscallTable.IsKnown("chwon"));
    }
}
