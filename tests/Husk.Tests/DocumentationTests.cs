using System.Text.RegularExpressions;
using Husk.Cli;
using Husk.Cli.Run;

namespace Husk.Tests;

/// <summary>The documentation says what the program does: help texts, profiles, man pages and what husk install puts in place.</summary>
public class DocumentationTests
{
    private static string ManDir => Path.Combine(TestEnvironment.Repository, "docs", "man");

    [Fact]
    public void Run_help_calls_the_default_tree_the_overlay_it_is()
    {
        string intro = RunCommand.Help().Split("\n\n")[1];
        Assert.Contains("the host's tree through an\noverlay whose writes land in a layer reviewed at exit", intro);
        Assert.DoesNotContain("read-only,", intro);
    }

    [Fact]
    public void The_default_profile_changes_nothing()
    {
        var plain = RunCommand.Parse(["--", "true"], out _);
        var profiled = RunCommand.Parse(["--profile", "default", "--", "true"], out _);
        Assert.Equal("overlay", plain.FsMode);
        var (a, b) = (plain.Spec.Current, profiled.Spec.Current);
        Assert.Equal(
            (plain.FsMode, a.Namespaces, a.NestedUserNamespaces, a.Landlock, plain.SeccompUnconfined, a.Capabilities, a.Limits, a.Mounts.Length),
            (profiled.FsMode, b.Namespaces, b.NestedUserNamespaces, b.Landlock, profiled.SeccompUnconfined, b.Capabilities, b.Limits, b.Mounts.Length));
        Assert.Same(a.Seccomp.Profile, b.Seccomp.Profile);
        // The tightened profiles say read-only themselves.
        Assert.Equal("ro", RunCommand.Parse(["--profile", "strict", "--", "true"], out _).FsMode);
        Assert.Equal("ro", RunCommand.Parse(["--profile", "judge", "--", "true"], out _).FsMode);
    }

    [Fact]
    public void Mkosi_sandbox_man_page_calls_unsupported_only_what_its_help_does()
    {
        string help = TestEnvironment.Exec(Path.Combine(TestEnvironment.Artifacts, "bin", "mkosi-sandbox"), ["--help"]).Stderr;
        var supported = help.Split('\n')
            .Select(l => Regex.Match(l, @"^\s+(?:-h )?(--[\w-]+)(?:\s\S+)*?\s{2,}(\S.*)$"))
            .Where(m => m.Success && !m.Groups[2].Value.StartsWith("Not supported", StringComparison.Ordinal))
            .Select(m => m.Groups[1].Value)
            .ToHashSet();
        Assert.Contains("--suppress-chown", supported);
        string page = File.ReadAllText(Path.Combine(ManDir, "mkosi-sandbox.1.md"));
        foreach (string entry in page.Split("\n\n").Where(b => b.Contains("\n:   ", StringComparison.Ordinal)))
        {
            var named = Regex.Matches(entry.Split('\n')[0], @"\*\*\\-\\-([\w-]+)\*\*").Select(m => "--" + m.Groups[1].Value);
            foreach (string option in named.Where(supported.Contains))
                Assert.False(entry.Contains("Not supported", StringComparison.Ordinal), $"mkosi-sandbox(1) calls {option} unsupported:\n{entry}");
        }
    }

    [Fact]
    public void Markdown_man_pages_render_as_roff_that_man_reads_without_warnings()
    {
        var pages = Directory.GetFiles(ManDir, "*.1.md");
        Assert.Equal(["husk-runtime.1.md", "mbox.1.md", "microbox.1.md", "mini-sandbox.1.md", "mini-tapbox.1.md", "mkosi-sandbox.1.md", "try.1.md"], pages.Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (string page in pages)
        {
            string roff = ManPageMarkdown.ToRoff(File.ReadAllText(page));
            string name = Path.GetFileName(page)[..^".1.md".Length];
            Assert.StartsWith($".TH {name.ToUpperInvariant()} 1 ", roff);
            Assert.DoesNotContain("**", roff);
            if (!File.Exists("/usr/bin/groff"))
                continue;
            string file = Path.Combine(TestEnvironment.ScratchDirectory("man"), name + ".1");
            File.WriteAllText(file, roff);
            var check = TestEnvironment.Exec("/usr/bin/groff", ["-man", "-Tascii", "-ww", "-z", file]);
            Assert.True(check.Stderr.Length == 0, $"{name}.1: {check.Stderr}");
            var text = TestEnvironment.Exec("/usr/bin/groff", ["-man", "-Tascii", "-P-cbou", file]);
            Assert.Matches($@"\n\s+{Regex.Escape(name)}\s+-\s+\S", text.Stdout); // the NAME line, justified
            Assert.Contains("SYNOPSIS", text.Stdout);
            TestEnvironment.DeleteTree(Path.GetDirectoryName(file)!);
        }
    }
}
