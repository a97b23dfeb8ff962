namespace Husk.Tests.Mkosi;

/// <summary>
/// Husk's mkosi-sandbox against mkosi's own sandbox.py, case by case: same exit status, same
/// normalised report from inside, same stderr (or, where sandbox.py prints a Python traceback,
/// both silent or both not). Needs MKOSI_SANDBOX_PY (the path of sandbox.py, mkosi 70ce10d);
/// skipped otherwise, as in CI, which has neither network nor mkosi. Unprivileged here, as root
/// in <see cref="MkosiDifferentialRootTests"/>.
/// </summary>
public class MkosiDifferentialTests
{
    public static TheoryData<string> Cases => MkosiCases.Names(root: false);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_sandbox_py_unprivileged(string name)
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("runs as an unprivileged user; MkosiDifferentialRootTests covers root");
        Compare(MkosiCases.Get(name));
    }

    internal static void Compare(MkosiCase c)
    {
        if (MkosiHarness.Reference is not { } reference)
        {
            Assert.Skip("set MKOSI_SANDBOX_PY to mkosi's sandbox.py (commit 70ce10d) to compare against it");
            return;
        }
        var expected = MkosiHarness.Run(reference, c, reference: true);
        var actual = MkosiHarness.Run(MkosiHarness.Husk, c);
        // MKOSI_DIFF_DUMP=DIR keeps both normalised reports, to read or to attach to a bug.
        if (Environment.GetEnvironmentVariable("MKOSI_DIFF_DUMP") is { Length: > 0 } dump)
        {
            string who = TestEnvironment.IsRoot ? "root" : "user";
            File.WriteAllText(Path.Combine(dump, $"{c.Name}.{who}.sandbox-py.txt"), expected.ToString());
            File.WriteAllText(Path.Combine(dump, $"{c.Name}.{who}.husk.txt"), actual.ToString());
        }
        Assert.True(expected.Status == actual.Status, $"status: sandbox.py {expected.Status}, Husk {actual.Status}\n{expected}\n=== Husk\n{actual}");
        Assert.True(expected.Stdout == actual.Stdout, $"stdout differs:\n{MkosiHarness.Diff(expected.Stdout, actual.Stdout)}");
        if (c.ErrorTextDiffers)
            Assert.Equal(expected.Stderr.Length > 0, actual.Stderr.Length > 0);
        else
            Assert.True(expected.Stderr == actual.Stderr, $"stderr differs:\n--- sandbox.py\n{expected.Stderr}\n--- Husk\n{actual.Stderr}");
    }
}

/// <summary>The differential cases as root: sandbox.py then makes no user namespace and keeps every capability.</summary>
public class MkosiDifferentialRootTests
{
    public static TheoryData<string> Cases => MkosiCases.Names(root: true);

    [Theory]
    [MemberData(nameof(Cases))]
    [Trait("Category", "Root")]
    public void Matches_sandbox_py_as_root(string name)
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        MkosiDifferentialTests.Compare(MkosiCases.Get(name));
    }
}
