namespace Husk.Tests;

/// <summary>
/// The overlay mode through the CLI: the program changes "the host", the changes land in a layer,
/// and are listed, diffed, committed or discarded afterwards; the host is untouched until then.
/// </summary>
public class OverlayTests : IDisposable
{
    private readonly string _project = TestEnvironment.ScratchDirectory("project");
    private readonly string _roots = TestEnvironment.ScratchDirectory("roots");

    public OverlayTests()
    {
        File.WriteAllText(Path.Combine(_project, "kept.txt"), "original\n");
        File.WriteAllText(Path.Combine(_project, "doomed.txt"), "delete me\n");
        Directory.CreateDirectory(Path.Combine(_project, "tree", "sub"));
        File.WriteAllText(Path.Combine(_project, "tree", "sub", "leaf"), "leaf\n");
    }

    public void Dispose()
    {
        TestEnvironment.DeleteTree(_project);
        TestEnvironment.DeleteTree(_roots);
    }

    private (int Code, string Stdout, string Stderr) Husk(params string[] args) =>
        TestEnvironment.Exec("/bin/sh", ["-c", $"cd '{_project}' && exec \"$0\" \"$@\"", TestEnvironment.Husk, .. args]);

    private const string Edits = "echo changed >> kept.txt; echo new > added.txt; rm doomed.txt; rm -r tree; mkdir -p made/deep; echo x > made/deep/file";

    [Fact]
    public void Changes_land_in_the_layer_and_the_host_is_untouched_until_commit()
    {
        string root = Path.Combine(_roots, "r1");
        var run = Husk("run", "--root", root, "--", "/bin/sh", "-c", Edits + "; cat kept.txt");
        Assert.Equal(0, run.Code);
        Assert.Equal("original\nchanged\n", run.Stdout);
        // The host is as it was.
        Assert.Equal("original\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.True(File.Exists(Path.Combine(_project, "doomed.txt")));
        Assert.False(File.Exists(Path.Combine(_project, "added.txt")));
        Assert.Contains("kept in " + root, run.Stderr);

        var changes = Husk("changes", root);
        Assert.Equal(0, changes.Code);
        string p = _project;
        string[] expected = [$"M {p}/kept.txt", $"A {p}/added.txt", $"D {p}/doomed.txt", $"A {p}/made/", $"A {p}/made/deep/", $"A {p}/made/deep/file", $"D {p}/tree"];
        Assert.Equal(expected.Order(StringComparer.Ordinal), changes.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));

        var diff = Husk("diff", root, Path.Combine(_project, "kept.txt"));
        Assert.Contains($"--- a{p}/kept.txt", diff.Stdout);
        Assert.Contains("+changed", diff.Stdout);

        // A non-empty directory is deleted only when asked: the commit says which change was left.
        var commit = Husk("commit", root);
        Assert.Equal(1, commit.Code);
        Assert.Contains($"{p}/tree", commit.Stderr);
        Assert.Equal("original\nchanged\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.False(File.Exists(Path.Combine(_project, "doomed.txt")));
        Assert.Equal("x\n", File.ReadAllText(Path.Combine(_project, "made", "deep", "file")));
        Assert.True(Directory.Exists(Path.Combine(_project, "tree")));
        Assert.Equal(0, Husk("commit", root, "--recursive").Code);
        Assert.False(Directory.Exists(Path.Combine(_project, "tree")));
        Assert.Equal("", Husk("changes", root).Stdout);
        Assert.Equal(0, Husk("discard", root).Code);
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void The_sandbox_may_not_write_where_the_caller_may_not_on_the_host()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("root's payload is root inside and may write /usr as root may");
        string root = Path.Combine(_roots, "perm");
        // /usr and /etc are overlaid; the caller cannot write them on the host, so not in the sandbox either.
        var run = Husk("run", "--root", root, "--keep", "--", "/bin/sh", "-c",
            "touch /usr/husk-probe 2>&1; mkdir /etc/husk-probe 2>&1; test -w /usr && echo writable; echo mine > mine.txt; stat -c %A /usr");
        Assert.Equal(0, run.Code);
        Assert.Contains("touch: cannot touch '/usr/husk-probe': Permission denied", run.Stdout);
        Assert.Contains("Permission denied", run.Stdout.Split('\n')[1]);
        Assert.DoesNotContain("writable", run.Stdout);
        Assert.EndsWith("dr-xr-xr-x\n", run.Stdout);
        // What Husk prepared in the layer is not a change; the payload's file is.
        Assert.Equal($"A {_project}/mine.txt\n", Husk("changes", root).Stdout);
    }

    [Fact]
    public void Commit_and_discard_without_asking_and_include_exclude_filter()
    {
        var commit = Husk("run", "--commit", "--exclude", "*.log", "--", "/bin/sh", "-c", "echo a > a.txt; echo l > b.log");
        Assert.Equal(0, commit.Code);
        Assert.Equal("a\n", File.ReadAllText(Path.Combine(_project, "a.txt")));
        Assert.False(File.Exists(Path.Combine(_project, "b.log")));
        var discard = Husk("run", "--discard", "--", "/bin/sh", "-c", "echo gone > c.txt");
        Assert.Equal(0, discard.Code);
        Assert.False(File.Exists(Path.Combine(_project, "c.txt")));
    }

    [Fact]
    public void A_session_resumes_on_top_of_its_root()
    {
        string root = Path.Combine(_roots, "resume");
        Assert.Equal(0, Husk("run", "--root", root, "--keep", "--", "/bin/sh", "-c", "echo one > step").Code);
        var second = Husk("run", "--root", root, "--keep", "--", "/bin/sh", "-c", "cat step; echo two >> step");
        Assert.Equal("one\n", second.Stdout);
        Assert.Equal("one\ntwo\n", File.ReadAllText(Path.Combine(root, "upperdir") + _project + "/step"));
    }

    [Fact]
    public void The_layer_is_hidden_from_the_payload()
    {
        string root = Path.Combine(_roots, "hidden");
        var run = Husk("run", "--root", root, "--keep", "--", "/bin/sh", "-c", $"ls -d {root} 2>/dev/null && echo visible || echo hidden");
        Assert.Equal("hidden\n", run.Stdout);
    }

    [Fact]
    public void Readonly_gives_no_layer_and_direct_writes_through()
    {
        var ro = Husk("run", "--readonly", "--", "/bin/sh", "-c", "echo x > ro.txt 2>/dev/null || echo refused");
        Assert.Equal("refused\n", ro.Stdout);
        Directory.CreateDirectory(_project + "/straight");
        var direct = Husk("run", "--discard", "--direct", _project + "/straight", "--", "/bin/sh", "-c", "echo y > straight/through; echo z > layered");
        Assert.Equal(0, direct.Code);
        Assert.Equal("y\n", File.ReadAllText(_project + "/straight/through"));
        Assert.False(File.Exists(_project + "/layered"));
        var missing = Husk("run", "--direct", _project + "/nope", "--", "/bin/true");
        Assert.Equal(2, missing.Code);
        Assert.Equal($"husk run: --direct: no such file or directory: {_project}/nope", missing.Stderr.Trim());
    }

    [Fact]
    public void Review_at_exit_in_a_real_terminal_shows_a_diff_and_commits()
    {
        string session = $"husk{Guid.NewGuid():N}"[..16];
        string socket = Path.Combine(_roots, session + ".sock");
        string tmux(params string[] a) => TestEnvironment.Exec("tmux", ["-S", socket, .. a]).Stdout;
        string screen = "";
        bool Wait(string text)
        {
            for (int i = 0; i < 100; i++)
            {
                screen = tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", session);
                if (screen.Contains(text))
                    return true;
                Thread.Sleep(100);
            }
            return false;
        }
        try
        {
            tmux("new-session", "-d", "-s", session, "-x", "150", "-y", "50",
                $"cd '{_project}' && {TestEnvironment.Husk} run -- /bin/sh -c 'echo more >> kept.txt; echo hi > review.txt'; echo EXIT=$?; sleep 30");
            Assert.True(Wait("[q]uit (keep)?"), screen);
            Assert.Contains("2 change(s)", screen);
            tmux("send-keys", "-t", session, "d", "Enter");
            Assert.True(Wait("+more"), screen);
            tmux("send-keys", "-t", session, "C", "Enter");
            Assert.True(Wait("EXIT=0"), screen);
            Assert.Equal("original\nmore\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
            Assert.Equal("hi\n", File.ReadAllText(Path.Combine(_project, "review.txt")));
        }
        finally
        {
            tmux("kill-server");
        }
    }
}

/// <summary>The overlay mode as root: the payload is a subordinate id, which must reach and own its layer.</summary>
public class OverlayRootTests
{
    [Fact]
    [Trait("Category", "Root")]
    public void Root_gets_a_working_layer_as_its_subordinate_id_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        string project = Path.Combine("/var/lib/husk-test-scratch", $"rootproj-{Guid.NewGuid():N}");
        Directory.CreateDirectory(project);
        try
        {
            var r = TestEnvironment.Exec("/bin/sh", ["-c", $"cd {project} && exec {TestEnvironment.Husk} run --commit -- /bin/sh -c 'echo made > new.txt; id -u'"]);
            Assert.Equal(0, r.Code);
            Assert.Equal("0\n", r.Stdout);
            Assert.Equal("made\n", File.ReadAllText(Path.Combine(project, "new.txt")));
        }
        finally
        {
            Directory.Delete(project, recursive: true);
        }
    }
}
