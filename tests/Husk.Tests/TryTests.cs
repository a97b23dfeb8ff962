using System.Text.RegularExpressions;

namespace Husk.Tests;

/// <summary>
/// The try personality through artifacts/bin/try: try's sandbox layout, summary, commit, prompt,
/// messages and exit statuses. try's own suite runs against it too (docs/compat-try.md).
/// </summary>
public class TryTests : IDisposable
{
    private readonly string _project = TestEnvironment.ScratchDirectory("tryproj");
    private readonly string _tmp = TestEnvironment.ScratchDirectory("trytmp");

    public TryTests()
    {
        File.WriteAllText(Path.Combine(_project, "kept.txt"), "original\n");
        File.WriteAllText(Path.Combine(_project, "doomed.txt"), "delete me\n");
        File.WriteAllText(Path.Combine(_project, "secret"), "hidden\n");
    }

    public void Dispose()
    {
        TestEnvironment.DeleteTree(_project);
        TestEnvironment.DeleteTree(_tmp);
    }

    private static string TryBinary => Path.Combine(TestEnvironment.Artifacts, "bin", "try");

    /// <summary>try in the project directory, its sandboxes made under a scratch TMPDIR.</summary>
    private (int Code, string Stdout, string Stderr) Try(string? stdin, params string[] args) =>
        TestEnvironment.Exec(TryBinary, args, stdin: stdin, env: new Dictionary<string, string> { ["TMPDIR"] = _tmp, ["SHELL"] = "/bin/sh" }, cwd: _project);

    [Fact]
    public void Try_n_keeps_the_changes_in_tries_layout_and_the_host_untouched()
    {
        var run = Try(null, "-n", "echo more >> kept.txt; echo new > added.txt; rm doomed.txt; mkdir -p made/deep");
        Assert.Equal(0, run.Code);
        string sandbox = run.Stdout.Trim();
        Assert.Matches(new Regex(@"/tmp\.[A-Za-z0-9]{10}\.try-[0-9]+$"), sandbox);
        Assert.StartsWith(_tmp, sandbox);
        Assert.True(Directory.Exists(Path.Combine(sandbox, "temproot")));
        Assert.True(Directory.Exists(Path.Combine(sandbox, "workdir")));
        Assert.Equal("new\n", File.ReadAllText(sandbox + "/upperdir" + _project + "/added.txt"));
        Assert.Equal("/run/mount\n/run/try_trace.log\n", File.ReadAllText(Path.Combine(sandbox, "exclude")));
        // The host is as it was.
        Assert.Equal("original\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.True(File.Exists(Path.Combine(_project, "doomed.txt")));

        var summary = Try(null, "summary", sandbox);
        Assert.Equal(0, summary.Code);
        Assert.StartsWith("\nChanges detected in the following files:\n\n", summary.Stdout);
        Assert.Contains($"{_project}/kept.txt (modified)\n", summary.Stdout);
        Assert.Contains($"{_project}/added.txt (added)\n", summary.Stdout);
        Assert.Contains($"{_project}/doomed.txt (deleted)\n", summary.Stdout);
        Assert.Contains($"{_project}/made (created dir)\n", summary.Stdout);
        Assert.Contains($"{_project}/made/deep (created dir)\n", summary.Stdout);

        var commit = Try(null, "-y", "commit", sandbox);
        Assert.Equal(0, commit.Code);
        Assert.Equal("original\nmore\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.False(File.Exists(Path.Combine(_project, "doomed.txt")));
        Assert.True(Directory.Exists(Path.Combine(_project, "made", "deep")));
        // try keeps the sandbox after a commit, and a committed sandbox has nothing left to show.
        Assert.True(Directory.Exists(sandbox));
        Assert.Equal(1, Try(null, "summary", sandbox).Code);
    }

    [Fact]
    public void Messages_and_exit_statuses_are_tries()
    {
        Assert.Equal(3, Try(null, "exit 3").Code);
        var version = Try(null, "-v");
        Assert.Equal((0, "try version 0.2.0\n"), (version.Code, version.Stderr));
        var help = Try(null, "-h");
        Assert.Equal(0, help.Code);
        Assert.StartsWith("Usage: try [-nvhyx]", help.Stderr);
        var none = Try(null);
        Assert.Equal(2, none.Code);
        Assert.StartsWith("Usage: try", none.Stderr);
        var missing = Try(null, "-N", "nowhere", "true");
        Assert.Equal((2, "try: could not find sandbox directory 'nowhere'\n"), (missing.Code, missing.Stderr));
        var summary = Try(null, "summary", "nowhere");
        Assert.Equal((2, "try: could not find directory nowhere\n"), (summary.Code, summary.Stderr));
        var twice = Try(null, "-L", "a", "-L", "b", "true");
        Assert.Equal((2, "try: the -L option has been specified multiple times\n"), (twice.Code, twice.Stderr));

        // A sandbox with a file in temproot is refused.
        string bad = Path.Combine(_tmp, "bad");
        Directory.CreateDirectory(Path.Combine(bad, "temproot", "etc"));
        Directory.CreateDirectory(Path.Combine(bad, "upperdir"));
        File.WriteAllText(Path.Combine(bad, "temproot", "etc", "foo"), "");
        var invalid = Try(null, "-N", bad, "true");
        Assert.Equal((1, $"try: given sandbox '{bad}' is invalid\n"), (invalid.Code, invalid.Stderr));
    }

    [Fact]
    public void Hidden_paths_do_not_exist_inside_and_stay_on_the_host()
    {
        var run = Try(null, "-y", "-i", "secret", "test ! -e secret && test -e kept.txt");
        Assert.Equal(0, run.Code);
        Assert.Equal("hidden\n", File.ReadAllText(Path.Combine(_project, "secret")));
    }

    [Fact]
    public void The_prompt_reads_the_answer_from_stdin_and_include_exclude_filter()
    {
        var no = Try("n\n", "echo a > a.txt");
        Assert.Equal(0, no.Code);
        Assert.Contains("Commit these changes? [y/i/N] Not committing.", no.Stderr);
        Assert.StartsWith(_tmp, no.Stdout.Trim());
        Assert.False(File.Exists(Path.Combine(_project, "a.txt")));

        var yes = Try("y\n", "-E", "skip", "echo b > b.txt; echo s > skip.txt");
        Assert.Equal(0, yes.Code);
        Assert.Equal("b\n", File.ReadAllText(Path.Combine(_project, "b.txt")));
        Assert.False(File.Exists(Path.Combine(_project, "skip.txt")));
    }

    [Fact]
    public void A_host_file_changed_since_the_run_is_left_alone_at_commit()
    {
        string sandbox = Path.Combine(_tmp, "kept");
        Directory.CreateDirectory(sandbox);
        Assert.Equal(0, Try(null, "-N", sandbox, "echo sandbox > kept.txt").Code);
        File.WriteAllText(Path.Combine(_project, "kept.txt"), "host edit\n");
        var commit = Try(null, "-y", "commit", sandbox);
        Assert.Equal(1, commit.Code);
        Assert.Contains("try: couldn't commit", commit.Stderr);
        Assert.Equal("host edit\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
    }

    [Fact]
    public void Stacked_sandboxes_are_seen_through_L_and_materialized_with_N()
    {
        string one = Path.Combine(_tmp, "one"), two = Path.Combine(_tmp, "two"), both = Path.Combine(_tmp, "both");
        foreach (string d in new[] { one, two, both })
            Directory.CreateDirectory(d);
        Assert.Equal(0, Try(null, "-N", one, "echo 1 > one.txt; rm doomed.txt").Code);
        Assert.Equal(0, Try(null, "-N", two, "echo 2 > two.txt").Code);
        var seen = Try(null, "-L", $"{two}:{one}", "cat one.txt two.txt; test ! -e doomed.txt");
        Assert.True(seen.Code == 0, seen.Stdout + seen.Stderr);
        Assert.Equal("1\n2\n", seen.Stdout);
        Assert.Equal(0, Try(null, "-L", $"{two}:{one}", "-N", both).Code);
        var summary = Try(null, "summary", both);
        Assert.Contains($"{_project}/one.txt (added)", summary.Stdout);
        Assert.Contains($"{_project}/two.txt (added)", summary.Stdout);
        Assert.Contains($"{_project}/doomed.txt (deleted)", summary.Stdout);
    }

    [Fact]
    [Trait("Category", "Root")]
    public void A_directory_with_a_mount_below_it_and_a_child_of_an_unmapped_owner_is_overlaid_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root (to mount, in a private mount namespace)");
        string dir = Path.Combine("/var/lib/husk-test-scratch", $"tryroot-{Guid.NewGuid():N}"[..18]);
        string owned = Path.Combine(dir, "owned"), mnt = Path.Combine(dir, "mnt"), sandboxes = dir + "-sandboxes";
        foreach (string d in new[] { owned, mnt, sandboxes })
            Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(owned, "file"), "theirs\n");
        try
        {
            // try maps root alone (unshare --map-root-user), so uid 1234 is no one inside: as
            // postgres's /run/postgresql beside /run/netns, which made every try fail as root.
            Assert.Equal(0, global::Husk.Interop.Interop.Lchown(owned, 1234, 1234));
            string script = $"mount -t tmpfs husk-test {mnt} && cd {owned} && TMPDIR={sandboxes} SHELL=/bin/sh exec {TryBinary} -n 'cat file; echo new > new; pwd'";
            var r = TestEnvironment.InPrivateMountNamespace(script);
            Assert.True(r.Code == 0, r.Stderr);
            string[] lines = r.Stdout.Split('\n');
            Assert.Equal(["theirs", owned], lines[..2]);
            Assert.Equal("new\n", File.ReadAllText(lines[2] + "/upperdir" + owned + "/new"));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
            TestEnvironment.DeleteTree(sandboxes);
        }
    }

    [Fact]
    public void The_commit_prompt_in_a_real_terminal()
    {
        using var term = new TestTerminal(_tmp, $"cd '{_project}' && TMPDIR='{_tmp}' {TryBinary} 'echo hi > tty.txt'; echo EXIT=$?; sleep 30");
        Assert.True(term.WaitFor("Commit these changes? [y/i/N]"), term.Text);
        Assert.Contains($"{_project}/tty.txt (added)", term.Text);
        term.Send("y", "Enter");
        Assert.True(term.WaitFor("EXIT=0"), term.Text);
        Assert.Equal("hi\n", File.ReadAllText(Path.Combine(_project, "tty.txt")));
    }
}
