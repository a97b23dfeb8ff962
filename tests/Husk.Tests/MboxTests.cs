using Husk.Cli.Personalities.Mbox;
using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Tests;

/// <summary>
/// The mbox personality through artifacts/bin/mbox: its sandbox root listing, one-key prompt,
/// options, profile format and exit statuses, on the overlay engine.
/// </summary>
public class MboxTests : IDisposable
{
    private readonly string _project = TestEnvironment.ScratchDirectory("mboxproj");
    private readonly string _roots = TestEnvironment.ScratchDirectory("mboxroots");

    public MboxTests()
    {
        File.WriteAllText(Path.Combine(_project, "kept.txt"), "original\n");
        File.WriteAllText(Path.Combine(_project, "doomed.txt"), "delete me\n");
        File.WriteAllText(Path.Combine(_project, "secret"), "hidden\n");
        Directory.CreateDirectory(Path.Combine(_project, "data"));
    }

    public void Dispose()
    {
        TestEnvironment.DeleteTree(_project);
        TestEnvironment.DeleteTree(_roots);
    }

    private static string MboxBinary => Path.Combine(TestEnvironment.Artifacts, "bin", "mbox");

    private (int Code, string Stdout, string Stderr) Mbox(string? stdin, params string[] args) =>
        TestEnvironment.Exec(MboxBinary, args, stdin: stdin, env: new Dictionary<string, string> { ["SHELL"] = "/bin/sh" }, cwd: _project);

    private string NewRoot(string name)
    {
        string root = Path.Combine(_roots, name);
        Directory.CreateDirectory(root);
        return root;
    }

    [Fact]
    public void Dash_d_traces_in_mboxs_lines_and_dash_c_counts_in_its_table()
    {
        var trace = Mbox(null, "-i", "-r", NewRoot("d"), "-d", "--", "/bin/sh", "-c", "cat kept.txt > /dev/null; exit 4");
        Assert.Equal(4, trace.Code);
        Assert.Contains("> [    2] execve(\"/bin/sh\", [\"/bin/sh\", \"-c\", \"cat kept.txt > /dev/null; exit 4\"]", trace.Stderr);
        Assert.Matches(@"> \[ *\d+\] openat\(AT_FDCWD, ""kept.txt"", O_RDONLY\n< \) += 3\n", trace.Stderr);
        Assert.Contains("> [    2] +++ exited with 4 +++", trace.Stderr);

        var count = Mbox(null, "-i", "-r", NewRoot("c"), "-c", "-d", "--", "/bin/sh", "-c", "cat kept.txt missing.txt > /dev/null 2>&1; true");
        Assert.Equal(0, count.Code);
        // -c takes over from -d, as in mbox: the table, no lines.
        Assert.DoesNotContain("> [", count.Stderr);
        Assert.Contains("% time     seconds  usecs/call     calls    errors syscall\n------ ----------- ----------- --------- --------- ----------------\n", count.Stderr);
        Assert.Matches(@"\n +[\d.]+ +[\d.]+ +\d+ +\d+ +[1-9]\d* openat\n", count.Stderr);
        // strace 4.7's total row leaves usecs/call blank.
        // strace 4.7's total row: "%6.6s %11.6f %11s %9u %9.u %s", usecs/call left blank.
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(count.Stderr, @"\n100\.00 [ \d.]{11} {13}[ \d]{8}\d [ \d]{9} total\n"), count.Stderr);

        string log = Path.Combine(_roots, "trace.log");
        var toFile = Mbox(null, "-i", "-r", NewRoot("o"), "-d", "-o", log, "--", "/bin/true");
        Assert.Equal(0, toFile.Code);
        Assert.DoesNotContain("execve(", toFile.Stderr);
        Assert.Contains("execve(\"/bin/true\"", File.ReadAllText(log));
    }

    [Fact]
    public void The_network_summary_lists_sockets_and_connections()
    {
        var run = Mbox(null, "-i", "-r", NewRoot("net"), "--", "python3", "-c",
            "import socket\ns = socket.socket()\ntry: s.connect(('127.0.0.1', 9))\nexcept OSError: pass");
        Assert.Equal(0, run.Code);
        Assert.Matches(@"Network Summary:\n > shared with the host\n > \[\d+\] Create socket\(PF_INET,\.\.\.\)\n > \[\d+\] -> 127\.0\.0\.1:9\n", run.Stderr);
    }

    [Fact]
    public void Profile_network_rules_are_enforced_and_listed_in_the_summary()
    {
        Network.AllowlistTests.RequireAllowlistTools();
        var at = System.Net.IPAddress.Parse("127.0.0.3");
        using var allowed = new Network.TestHttp(at, "allowed");
        using var blocked = new Network.TestHttp(at, "blocked");
        string profile = Path.Combine(_roots, "network.profile");
        File.WriteAllText(profile, $"[network]\n  allow: 127.0.0.3:{allowed.Port}\n  block: 127.0.0.3:{blocked.Port}\n");
        const string client = """
            import errno, socket, sys
            for port in sys.argv[1:]:
                try:
                    s = socket.create_connection(("127.0.0.3", int(port)), timeout=10); s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    print(s.makefile("rb").read().decode().split("\r\n\r\n", 1)[-1] or "closed")
                except OSError as e: print(errno.errorcode.get(e.errno, str(e)))
            """;
        var run = Mbox(null, "-i", "-p", profile, "-r", NewRoot("netrules"), "--", "python3", "-c", client, $"{allowed.Port}", $"{blocked.Port}");
        Assert.True(run.Code == 0, run.Stderr);
        string[] got = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("allowed", got[0]);   // the host's server, as mbox's shared network would reach it
        Assert.NotEqual("blocked", got[1]);
        Assert.Equal((1, 0), (allowed.Served, blocked.Served));
        Assert.Contains("Network Summary:\n > filtered by the profile's [network] rules\n", run.Stderr);
        Assert.Matches($@" > \[\d+\] -> 127\.0\.0\.3:{allowed.Port}\n", run.Stderr);
        Assert.Matches($@" > \[allowed\] 127\.0\.0\.3:{allowed.Port} tcp, \d+ bytes sent, [1-9]\d* received\n", run.Stderr);
        Assert.Contains($" > [refused] 127.0.0.3:{blocked.Port} tcp: refused by block: 127.0.0.3:{blocked.Port}\n", run.Stderr);
    }

    private const string Edits = "echo more >> kept.txt; echo new > added.txt; rm doomed.txt";

    [Fact]
    public void Without_the_session_changes_stay_in_the_root_and_the_status_passes_through()
    {
        string root = NewRoot("r1");
        var run = Mbox(null, "-i", "-r", root, "--", "/bin/sh", "-c", Edits + "; cat kept.txt; exit 7");
        Assert.Equal(7, run.Code);
        Assert.Equal("original\nmore\n", run.Stdout);
        Assert.Contains("Network Summary:\n > shared with the host\n", run.Stderr);
        Assert.Equal("original\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.True(File.Exists(Path.Combine(_project, "doomed.txt")));
        var changes = TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]);
        Assert.Contains($"M {_project}/kept.txt", changes.Stdout);
        Assert.Contains($"A {_project}/added.txt", changes.Stdout);
        Assert.Contains($"D {_project}/doomed.txt", changes.Stdout);
    }

    [Fact]
    public void A_working_directory_under_tmp_is_the_programs_and_its_changes_are_reviewed()
    {
        // mbox overlays /tmp like the rest of the host: a script without "#!" there runs (with /bin/sh).
        string dir = Directory.CreateTempSubdirectory("husk-mbox-cwd").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "plain"), "echo ran in $PWD; echo made > made.txt\n");
            File.SetUnixFileMode(Path.Combine(dir, "plain"), (UnixFileMode)0x1ED);
            string root = NewRoot("tmpcwd");
            var run = TestEnvironment.Exec(MboxBinary, ["-i", "-r", root, "--", "./plain"], cwd: dir);
            Assert.Equal((0, $"ran in {dir}\n"), (run.Code, run.Stdout));
            Assert.False(File.Exists(Path.Combine(dir, "made.txt")));
            Assert.Contains($"A {dir}/made.txt", TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]).Stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_session_lists_the_root_and_takes_one_key_per_change()
    {
        string root = NewRoot("r2");
        // Additions and modifications first, deletions last: added.txt, kept.txt, doomed.txt.
        var run = Mbox("c i c", "-r", root, "--", "/bin/sh", "-c", Edits);
        Assert.Equal(0, run.Code);
        Assert.Contains($"Sandbox Root:\n > {root}\n > N:{_project}/added.txt\n > M:{_project}/kept.txt\n > D:{_project}/doomed.txt\n", run.Stdout);
        Assert.Contains($"N:{_project}/added.txt\n [C]ommit all, [c]ommit, [i]gnore, [d]iff, [l]ist tree, [s]hell, [q]uit ?> \n  > Commiting {_project}/added.txt", run.Stdout);
        Assert.Equal("new\n", File.ReadAllText(Path.Combine(_project, "added.txt")));
        Assert.Equal("original\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.False(File.Exists(Path.Combine(_project, "doomed.txt")));
    }

    [Fact]
    public void Quit_keeps_the_root_and_exits_0()
    {
        string root = NewRoot("r3");
        var run = Mbox("q", "-r", root, "--", "/bin/sh", "-c", Edits + "; exit 5");
        Assert.Equal(0, run.Code);
        Assert.Equal("original\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.NotEmpty(TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]).Stdout);
    }

    [Fact]
    public void Options_and_messages_are_mboxs()
    {
        var help = Mbox(null, "-h");
        Assert.Equal(0, help.Code);
        Assert.StartsWith("usage: mbox [-r root] [-s] [PROG]", help.Stdout);
        var none = Mbox(null);
        Assert.Equal(1, none.Code);
        Assert.StartsWith("usage: mbox", none.Stderr);
        // A bad option: getopt's line and where to look, not the whole usage.
        var bad = Mbox(null, "-Z", "true");
        Assert.Equal((1, "mbox: invalid option -- 'Z' (see mbox -h)\n"), (bad.Code, bad.Stderr));
        Assert.Equal("mbox -- version 4.7\n", Mbox(null, "-V").Stdout);
        // The runtime's own words are stripped from the binary: the reason is worded from the error.
        var noProfile = Mbox(null, "-p", "no-such-profile", "true");
        Assert.Equal((1, "mbox: open no-such-profile: No such file or directory\n"), (noProfile.Code, noProfile.Stderr));
        var cd = Mbox(null, "-i", "-r", NewRoot("cd"), "-C", "data", "--", "/bin/pwd");
        Assert.Equal((0, $"{_project}/data\n"), (cd.Code, cd.Stdout));
        var env = Mbox(null, "-i", "-r", NewRoot("env"), "-E", "MBOX_TEST=yes", "--", "/bin/sh", "-c", "echo $MBOX_TEST");
        Assert.Equal("yes\n", env.Stdout);
    }

    [Fact]
    public void S_is_a_flag_and_does_not_take_the_program()
    {
        // mbox's usage lists "-S: enable nested seccomp"; as strace's -S SORT it ran "hi".
        var a = MboxArguments.Parse(["-S", "echo", "hi"]);
        Assert.Equal(["echo", "hi"], a.Command);
        Assert.Equal(["ls"], MboxArguments.Parse(["-Si", "ls"]).Command);
    }

    [Fact]
    public void A_root_named_with_r_is_made_when_it_does_not_exist()
    {
        // mbox's own example: mbox -r outdir -- make
        var run = Mbox(null, "-i", "-r", "outdir", "--", "/bin/sh", "-c", "echo built > out.txt");
        Assert.True(run.Code == 0, run.Stderr);
        string root = Path.Combine(_project, "outdir");
        Assert.Contains($"A {_project}/out.txt", TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]).Stdout);
        Assert.False(File.Exists(Path.Combine(_project, "out.txt")));
        // -i says where the changes are.
        Assert.Contains($"mbox: 1 change(s) kept in {root}: husk changes {root} lists them", run.Stderr);
        TestEnvironment.DeleteTree(root);
    }

    /// <summary>Runs mbox with its default root and returns that root: sh prints its pid and execs mbox, which keeps it.</summary>
    private (int Code, string Stdout, string Stderr, string Root) MboxWithDefaultRoot(string? stdin, params string[] args)
    {
        var run = TestEnvironment.Exec("/bin/sh", ["-c", "echo $$ >&2; exec \"$0\" \"$@\"", MboxBinary, .. args],
            stdin: stdin, env: new Dictionary<string, string> { ["SHELL"] = "/bin/sh" }, cwd: _project);
        string pid = run.Stderr.Split('\n')[0];
        return (run.Code, run.Stdout, run.Stderr[(pid.Length + 1)..], $"/tmp/sandbox-{pid}");
    }

    [Fact]
    public void The_default_root_goes_away_unless_changes_are_kept_in_it()
    {
        var nothing = MboxWithDefaultRoot(null, "-i", "--", "/bin/true");
        Assert.True(nothing.Code == 0, nothing.Stderr);
        Assert.False(Directory.Exists(nothing.Root), $"{nothing.Root} was left behind");
        Assert.DoesNotContain("kept in", nothing.Stderr);

        var committed = MboxWithDefaultRoot("C", "--", "/bin/sh", "-c", "echo new > committed.txt");
        Assert.True(committed.Code == 0, committed.Stderr);
        Assert.Equal("new\n", File.ReadAllText(Path.Combine(_project, "committed.txt")));
        Assert.False(Directory.Exists(committed.Root), $"{committed.Root} was left behind after everything was committed");

        var ignored = MboxWithDefaultRoot("i", "--", "/bin/sh", "-c", "echo new > ignored.txt");
        try
        {
            Assert.True(ignored.Code == 0, ignored.Stderr);
            Assert.Contains($"mbox: 1 change(s) kept in {ignored.Root}: husk changes {ignored.Root} lists them", ignored.Stderr);
            Assert.Contains($"A {_project}/ignored.txt", TestEnvironment.Exec(TestEnvironment.Husk, ["changes", ignored.Root]).Stdout);
        }
        finally
        {
            TestEnvironment.DeleteTree(ignored.Root);
        }
    }

    [Fact]
    public void N_gives_a_network_namespace_of_its_own()
    {
        var run = Mbox(null, "-i", "-n", "-r", NewRoot("net"), "--", "/bin/cat", "/proc/net/dev");
        Assert.Equal(0, run.Code);
        var interfaces = run.Stdout.Split('\n').Skip(2).Where(l => l.Contains(':')).Select(l => l.Split(':')[0].Trim()).ToList();
        Assert.Equal(["lo"], interfaces);
        Assert.Contains(" > none: a network namespace of its own", run.Stderr);
    }

    [Fact]
    public void A_profile_hides_allows_and_writes_directly()
    {
        Directory.CreateDirectory(Path.Combine(_project, "private", "open"));
        File.WriteAllText(Path.Combine(_project, "private", "closed"), "x\n");
        string profile = Path.Combine(_roots, "p.profile");
        File.WriteAllText(profile, $"""
            # a profile in mbox's format
            [fs]
                hide: {_project}/secret
                hide: {_project}/private
                allow: {_project}/private/open
                direct: {_project}/data
            """);
        string root = NewRoot("prof");
        var run = Mbox(null, "-i", "-p", profile, "-r", root, "--", "/bin/sh", "-c",
            "test ! -e secret && test -d private/open && test ! -e private/closed && echo through > data/direct.txt");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal("through\n", File.ReadAllText(Path.Combine(_project, "data", "direct.txt")));
        Assert.Equal("hidden\n", File.ReadAllText(Path.Combine(_project, "secret")));
        Assert.Empty(TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]).Stdout);

        File.WriteAllText(profile, "[apparmor]\n");
        var bad = Mbox(null, "-i", "-p", profile, "-r", root, "true");
        Assert.Equal((1, "mbox: Not supported yet: [apparmor]\n"), (bad.Code, bad.Stderr));
    }

    [Fact]
    public void A_profile_without_a_section_header_is_read_as_fs()
    {
        // The repro of issue 8 (allow: . and hide: ~): mbox itself skipped these lines, and nothing was hidden.
        string profile = Path.Combine(_roots, "headerless.profile");
        File.WriteAllText(profile, $"allow: .\nhide: {_project}\n");
        var run = Mbox(null, "-i", "-C", "data", "-p", profile, "-r", NewRoot("headerless"), "--", "/bin/sh", "-c", "test ! -e ../kept.txt && pwd");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Equal($"{_project}/data\n", run.Stdout);
    }

    [Fact]
    public void A_profile_husk_cannot_enforce_is_refused_before_the_program_runs()
    {
        string profile = Path.Combine(_roots, "refused.profile");
        string root = Path.Combine(_roots, "never-made");
        File.WriteAllText(profile, "[fs]\n  hide: /etc\n[network]\n  # comment\n  allow: 127.0.0.1:22\n");
        var network = Mbox(null, "-i", "-n", "-p", profile, "-r", root, "--", "/bin/sh", "-c", "echo ran > ran.txt");
        Assert.Equal(1, network.Code);
        Assert.Equal($"mbox: {profile}:5: allow: -n turns the network off, so this [network] rule cannot let anything through: drop -n or the rule\n", network.Stderr);
        Assert.Empty(network.Stdout); // not even the Network Summary: nothing ran
        Assert.False(Directory.Exists(root));

        File.WriteAllText(profile, "[fs]\nhide: /etc\nreadonly: /usr\n");
        var unknown = Mbox(null, "-i", "-p", profile, "-r", root, "--", "/bin/sh", "-c", "echo ran > ran.txt");
        Assert.Equal((1, $"mbox: {profile}:3: readonly: unknown key in [fs] (husk knows hide:, allow: and direct:)\n"), (unknown.Code, unknown.Stderr));
        Assert.False(Directory.Exists(root));
        Assert.False(File.Exists(Path.Combine(_project, "ran.txt")));
    }

    [Fact]
    public void Profile_lines_parse_as_mbox_reads_them()
    {
        var profile = MboxProfile.Parse(
        [
            "[fs]", "  hide: ~", "\tallow: ~/src", "direct: /var/data", "# comment", "",
            "[network]", "kill: 0.0.0.0", "block: 192.168.1.0", "allow: 192.168.1.1:22", "log: 10.0.0.1:80",
        ], "/home/me", p => p.Replace("//", "/", StringComparison.Ordinal));
        Assert.Equal(["/home/me/"], profile.Hide);
        Assert.Equal(["/home/me/src"], profile.Allow);
        Assert.Equal(["/var/data"], profile.Direct);
        Assert.Equal([MboxNetworkAction.Kill, MboxNetworkAction.Block, MboxNetworkAction.Allow, MboxNetworkAction.Log], profile.Network.Select(r => r.Action));
        Assert.Equal(22, profile.Network[2].Port);
        Assert.Null(profile.Network[0].Port);
        Assert.Equal([8, 9, 10, 11], profile.Network.Select(r => r.Line));

        // Lines before any header are [fs]; an unknown key there names the file, line and key.
        Assert.Equal(["/work/x"], MboxProfile.Parse(["  allow: /work/x"], null, p => p).Allow);
        Assert.Equal("p.profile:2: deny: unknown key in [fs] (husk knows hide:, allow: and direct:)",
            Assert.Throws<MboxProfileException>(() => MboxProfile.Parse(["hide: /a", "deny: /b"], null, p => p, "p.profile")).Message);

        Assert.Equal("Unknown option: deny: 1.2.3.4", Assert.Throws<MboxProfileException>(() => MboxProfile.Parse(["[network]", "deny: 1.2.3.4"], null)).Message);
        Assert.Equal("Error reading net address: block: remote", Assert.Throws<MboxProfileException>(() => MboxProfile.Parse(["[network]", "block: remote"], null)).Message);
        Assert.Equal("Incorrect path in profile file at line 2", Assert.Throws<MboxProfileException>(() => MboxProfile.Parse(["[fs]", "hide: /nope"], null, _ => null)).Message);
    }

    [Fact]
    public void Fakeroot_is_root_inside_and_can_change_roots_files_in_the_layer()
    {
        bool fuse = File.Exists("/usr/bin/fuse-overlayfs") && global::Husk.Interop.Interop.Access("/dev/fuse", 6) == 0;
        string root = NewRoot("fakeroot");
        var run = Mbox(null, "-i", "-R", "-r", root, "--", "/bin/sh", "-c",
            "id -u; echo x > /tmp/owned && chown 1234:5678 /tmp/owned && echo chown-ok; echo sandboxed >> /etc/hostname && echo written");
        // chown to an unmapped id is a successful no-op (as root the id is mapped and it just works)
        Assert.StartsWith("0\nchown-ok\n", run.Stdout);

        if (!TestEnvironment.IsRoot && !fuse)
        {
            // Without fuse-overlayfs root's /etc/hostname stays root's: the shell's redirection fails (2), and mbox said why.
            Assert.Equal(2, run.Code);
            Assert.Contains(File.Exists("/usr/bin/fuse-overlayfs") ? "/dev/fuse is not open to this user" : "fuse-overlayfs is not installed", run.Stderr);
            return;
        }
        Assert.Equal(0, run.Code);
        Assert.Contains("written", run.Stdout);
        Assert.DoesNotContain("sandboxed", File.ReadAllText("/etc/hostname"));
        Assert.Contains("M /etc/hostname", TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]).Stdout);
    }

    [Fact]
    public void Fakeroot_as_a_user_names_the_root_file_that_keeps_apt_out_and_the_fix()
    {
        const string lockFile = "/var/lib/dpkg/lock-frontend";
        if (TestEnvironment.IsRoot || !File.Exists(lockFile) || global::Husk.Interop.Interop.Access(lockFile, 4) == 0)
            Assert.Skip($"needs a user who cannot read {lockFile}");
        var run = Mbox(null, "-i", "-R", "-r", NewRoot("apt"), "--", "apt-get", "install", "-y", "/nonexistent.deb");
        Assert.NotEqual(0, run.Code);
        Assert.Contains($"mbox: -R: {lockFile} is root's and this user cannot read it, so apt-get cannot open it in the sandbox: run mbox as root\n", run.Stderr);
    }

    [Fact]
    public void Test_mode_checks_pre_and_post_conditions()
    {
        string script = Path.Combine(_project, "t.sh");
        File.WriteAllText(script, "#!/bin/sh\n# pre: test -f \"$HPWD/kept.txt\"\n# post: grep -q more \"$SPWD/kept.txt\"\necho more >> kept.txt\n");
        File.SetUnixFileMode(script, (UnixFileMode)0x1ED);
        var ok = Mbox(null, "-t", "-r", NewRoot("t1"), script);
        Assert.True(ok.Code == 0, ok.Stderr);
        File.WriteAllText(script, "#!/bin/sh\n# post: test -f \"$SPWD/never\"\ntrue\n");
        var failed = Mbox(null, "-t", "-r", NewRoot("t2"), script);
        Assert.Equal(1, failed.Code);
        Assert.Contains("the post condition failed", failed.Stderr);
    }

    [Fact]
    public void The_review_shell_in_a_real_terminal_returns_without_a_process_group_error()
    {
        string root = NewRoot("shell");
        using var term = new TestTerminal(_roots,
            $"cd '{_project}' && {MboxBinary} -r '{root}' -- /bin/sh -c 'echo hi > shell.txt'; echo EXIT=$?; sleep 30");
        Assert.True(term.WaitFor("[q]uit ?>"), term.Text);
        term.Send("s");
        Assert.True(term.WaitFor("$ "), term.Text);
        term.Send("cat shell.txt; exit", "Enter");
        Assert.True(term.WaitFor("hi\n"), term.Text);
        term.Send("q");
        Assert.True(term.WaitFor("EXIT=0"), term.Text);
        Assert.DoesNotContain("process group", term.Text);
    }

    [Fact]
    public void The_prompt_in_a_real_terminal_shows_a_diff_and_commits_all()
    {
        string root = NewRoot("tty");
        using var term = new TestTerminal(_roots,
            $"cd '{_project}' && {MboxBinary} -r '{root}' -- /bin/sh -c 'echo more >> kept.txt; echo hi > tty.txt'; echo EXIT=$?; sleep 30");
        Assert.True(term.WaitFor("[q]uit ?>"), term.Text);
        Assert.Contains($" > M:{_project}/kept.txt", term.Text);
        term.Send("d"); // one key, no Enter
        Assert.True(term.WaitFor("+more"), term.Text);
        term.Send("C");
        Assert.True(term.WaitFor("EXIT=0"), term.Text);
        Assert.Equal("original\nmore\n", File.ReadAllText(Path.Combine(_project, "kept.txt")));
        Assert.Equal("hi\n", File.ReadAllText(Path.Combine(_project, "tty.txt")));
    }
}

/// <summary>mbox's headline example as root: the whole subordinate range is mapped and host root is the sandbox's root.</summary>
public class MboxRootTests
{
    [Fact]
    [Trait("Category", "Root")]
    public void Fakeroot_maps_a_users_subordinate_ids_and_chown_works_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root (to give nobody subordinate ids, in a private mount namespace)");
        if (!File.Exists("/usr/bin/newuidmap") || !File.Exists("/usr/bin/newgidmap"))
            Assert.Skip("needs newuidmap and newgidmap (Debian: uidmap)");
        string dir = Path.Combine("/var/lib/husk-test-scratch", $"subids-{Guid.NewGuid():N}"[..20]);
        Directory.CreateDirectory(Path.Combine(dir, "root"));
        try
        {
            File.WriteAllText(Path.Combine(dir, "subids"), "nobody:300000:65536\n");
            Assert.Equal(0, TestEnvironment.Exec("chown", ["-R", "65534:65534", dir]).Code);
            string mbox = Path.Combine(TestEnvironment.Artifacts, "bin", "mbox");
            string script = $"mount --bind {dir}/subids /etc/subuid && mount --bind {dir}/subids /etc/subgid && cd {dir} && " +
                $"setpriv --reuid=65534 --regid=65534 --clear-groups env HOME={dir} {mbox} -i -R -r {dir}/root -- /bin/sh -c " +
                "'echo x > owned && chown 1234:4321 owned && stat -c %u:%g owned; grep -c 300000 /proc/self/uid_map'";
            var r = TestEnvironment.InPrivateMountNamespace(script);
            Assert.True(r.Code == 0, r.Stderr);
            // A real chown (not the no-op filter a user without subordinate ids gets): the range is mapped.
            Assert.Equal("1234:4321\n1\n", r.Stdout);
            Assert.Equal(0, global::Husk.Interop.Interop.TryStat(Path.Combine(dir, "root", "upperdir") + dir + "/owned", out var st));
            Assert.Equal((300000u + 1233, 300000u + 4320), (st.Uid, st.Gid));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Fakeroot_installs_a_local_package_into_the_layer_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        if (!File.Exists("/usr/bin/dpkg-deb") || !File.Exists("/usr/bin/apt-get"))
            Assert.Skip("needs dpkg-deb and apt-get");
        string dir = TestEnvironment.ScratchDirectory("mboxdeb");
        string package = $"husk-test-{Guid.NewGuid():N}"[..20];
        try
        {
            // A tiny package, built here: no network.
            string tree = Path.Combine(dir, "pkg");
            Directory.CreateDirectory(Path.Combine(tree, "DEBIAN"));
            Directory.CreateDirectory(Path.Combine(tree, "usr", "share", package));
            File.WriteAllText(Path.Combine(tree, "DEBIAN", "control"),
                $"Package: {package}\nVersion: 1.0\nArchitecture: all\nMaintainer: Husk <husk@example.invalid>\nDescription: installed by Husk's tests\n");
            File.WriteAllText(Path.Combine(tree, "usr", "share", package, "hello"), "hello\n");
            string deb = Path.Combine(dir, package + ".deb");
            var built = TestEnvironment.Exec("/usr/bin/dpkg-deb", ["--root-owner-group", "--build", tree, deb]);
            Assert.True(built.Code == 0, built.Stderr);

            string root = Path.Combine(dir, "root");
            Directory.CreateDirectory(root);
            var run = TestEnvironment.Exec(Path.Combine(TestEnvironment.Artifacts, "bin", "mbox"), ["-i", "-R", "-r", root, "--", "/bin/sh", "-c",
                $"apt-get install -y {deb} >/dev/null 2>apt.err || cat apt.err; dpkg -s {package} | grep Status; stat -c %u:%g /usr/share/{package}/hello"], cwd: dir);
            Assert.True(run.Code == 0, run.Stderr);
            Assert.Equal("Status: install ok installed\n0:0\n", run.Stdout);
            Assert.False(Directory.Exists($"/usr/share/{package}"));
            // The layer holds the host's ids, so a commit would give the files to root.
            string layered = Path.Combine(root, "upperdir", "usr", "share", package, "hello");
            Assert.Equal(0, global::Husk.Interop.Interop.TryStat(layered, out var st));
            Assert.Equal((0u, 0u), (st.Uid, st.Gid));
            Assert.Contains($"A /usr/share/{package}/hello", TestEnvironment.Exec(TestEnvironment.Husk, ["changes", root]).Stdout);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }
}
