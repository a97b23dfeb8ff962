namespace Husk.Tests.Mkosi;

/// <summary>
/// Husk's mkosi-sandbox binary with fixed expectations (what sandbox.py does, checked once by
/// hand and by the differential suite), so they run everywhere, without sandbox.py.
/// </summary>
public class MkosiSandboxTests
{
    private static MkosiHarness.Outcome Run(MkosiCase c) => MkosiHarness.Run(MkosiHarness.Husk, c);

    /// <summary>The lines of one "## name" section of a report.</summary>
    private static string[] Section(MkosiHarness.Outcome o, string name)
    {
        var lines = o.Stdout.Split('\n');
        int start = Array.IndexOf(lines, "## " + name);
        Assert.True(start >= 0, $"no section {name} in:\n{o}");
        return [.. lines.Skip(start + 1).TakeWhile(l => !l.StartsWith("## ", StringComparison.Ordinal))];
    }

    private static MkosiHarness.Outcome Case(string name)
    {
        var o = Run(MkosiCases.Get(name));
        Assert.True(o.Status == 0, o.ToString());
        return o;
    }

    [Fact]
    public void Ordering_model_bind_wins_and_parents_first()
    {
        Assert.Equal(["inner"], Section(Case("bind-wins-over-tmpfs"), "case"));
        var parents = Case("parents-first");
        Assert.Equal(["host file", "hello"], Section(parents, "case"));
        Assert.Contains("/a 755 " + Ids() + " d ", Section(parents, "tree"));
    }

    [Fact]
    public void The_example_of_mkosi_25s_man_page_runs_id_as_root_with_proc()
    {
        var r = TestEnvironment.Exec(MkosiHarness.Husk[0],
            ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
             "--symlink", "usr/sbin", "/sbin", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--become-root",
             "sh", "-c", "id -u; test -r /proc/self/status && echo proc"]);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Equal("0\nproc\n", r.Stdout);
    }

    [Fact]
    public void Exec_fd_closes_when_the_command_runs_not_when_it_ends()
    {
        string dir = TestEnvironment.ScratchDirectory("execfd");
        try
        {
            // The command waits for "go", sent only once the reader of fd 3 saw end of file: if
            // mkosi-sandbox kept fd 3 open until the command ended, cat would never return.
            string script = """
                mkfifo ready go
                "$MKOSI" --bind / / --same-dir --exec-fd 3 sh -c 'read x < go; echo "command got $x"' 3>ready &
                timeout 20 cat ready && echo "setup done"
                timeout 20 sh -c 'echo go > go'
                wait $!
                """;
            var r = TestEnvironment.Exec("/bin/sh", ["-c", script], env: new Dictionary<string, string> { ["MKOSI"] = MkosiHarness.Husk[0] }, cwd: dir);
            Assert.True(r.Code == 0, r.Stderr);
            Assert.Equal("setup done\ncommand got go\n", r.Stdout);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Plus_sources_are_looked_up_in_the_sandbox()
    {
        Assert.Equal(["xubin-ok", "no-m"], Section(Case("relative-sources"), "case"));
    }

    [Fact]
    public void Modes_of_tmpfs_and_directories()
    {
        string ids = Ids();
        var tmpfs = Section(Case("tmpfs-modes"), "tree");
        Assert.Contains($"/tmp 1777 {ids} d ", tmpfs);
        Assert.Contains($"/var/tmp 1777 {ids} d ", tmpfs);
        Assert.Contains($"/data 755 {ids} d ", tmpfs);
        var dirs = Section(Case("dirs"), "tree");
        Assert.Contains($"/x/tmp 1777 {ids} d ", dirs);
        Assert.Contains($"/a/b/c 755 {ids} d ", dirs);
        Assert.Contains($"/var/tmp 1777 {ids} d ", dirs);
        var overlay = Case("overlay-tmpfs-upper");
        Assert.Contains($"/tmp 1777 {ids} d ", Section(overlay, "tree"));
        Assert.Equal(["b", "new"], Section(overlay, "case"));
    }

    [Fact]
    public void Symlinks_are_mounted_over_files_and_links()
    {
        Assert.Equal(["target", "new", "other"], Section(Case("symlinks"), "case"));
        Assert.Equal(["thost file"], Section(Case("bind-onto-symlink"), "case")); // /target kept "t", /l is the host file
        Assert.Equal(["file", "nowhere", "host file"], Section(Case("nofollow"), "case"));
    }

    [Fact]
    public void Capabilities_and_ids_are_sandbox_pys()
    {
        var plain = Case("plain");
        var status = Section(plain, "status");
        Assert.Contains("NoNewPrivs:\t0", status);
        // SIGPIPE and SIGXFSZ ignored, as Python leaves them; other ignored signals are the caller's
        // (a background job ignores SIGINT and SIGQUIT), which exec passes on to both.
        string sigIgn = Assert.Single(status, l => l.StartsWith("SigIgn:\t", StringComparison.Ordinal));
        const ulong PipeAndXfsz = 1UL << (13 - 1) | 1UL << (25 - 1);
        Assert.Equal(PipeAndXfsz, Convert.ToUInt64(sigIgn["SigIgn:\t".Length..], 16) & PipeAndXfsz);
        if (TestEnvironment.IsRoot)
        {
            Assert.Contains("user host", Section(plain, "ns"));
            return;
        }
        Assert.Contains("CapAmb:\t00000000812c01df", status);
        Assert.Contains("CapEff:\t00000000812c01df", status);
        Assert.Contains("user new", Section(plain, "ns"));
        Assert.Contains("deny", Section(plain, "maps"));
        var net = Case("unshare-net-ipc");
        Assert.Contains("CapAmb:\t00000000812c15df", Section(net, "status"));
        Assert.Equal(["lo DOWN"], Section(net, "net"));
        Assert.Contains("net new", Section(net, "ns"));
        Assert.Contains("ipc new", Section(net, "ns"));
        Assert.StartsWith("uid=0 gid=0", Section(Case("become-root"), "id")[0]);
    }

    [Fact]
    public void Mounts_are_shared_and_carry_no_flags_of_their_own()
    {
        var mounts = Section(Case("plain"), "mounts");
        Assert.StartsWith("/newroot / rw,relatime [shared] tmpfs tmpfs rw", mounts[0]);
        Assert.All(mounts, m => Assert.Contains("[shared]", m));
        Assert.DoesNotContain(mounts, m => m.StartsWith("/newroot ", StringComparison.Ordinal) && m.Contains("nosuid"));
    }

    [Fact]
    public void Environment_and_working_directory()
    {
        var env = Section(Case("environment"), "env");
        Assert.Contains("FOO=baz", env);
        Assert.Contains("EMPTY=", env);
        Assert.DoesNotContain(env, e => e.StartsWith("MKOSI_TEST_VAR=", StringComparison.Ordinal));
        Assert.Contains("MKOSI_TEST_VAR=host value", Section(Case("plain"), "env"));
        Assert.Equal(["/"], Section(Case("plain"), "cwd"));
        Assert.Equal(["/usr/share"], Section(Case("chdir"), "cwd"));
        Assert.Equal([MkosiHarness.Fixture + "/sub"], Section(Case("chdir-relative"), "cwd"));
        Assert.Equal([MkosiHarness.Fixture], Section(Case("same-dir"), "cwd"));
    }

    [Fact]
    public void Descriptors_pass_through_or_are_packed()
    {
        var plain = Section(Case("plain"), "fds");
        Assert.Contains("5 /dev/null", plain);
        Assert.Contains("7 /proc/version", plain);
        var packed = Case("pack-fds");
        Assert.Contains("3 /dev/null", Section(packed, "fds"));
        Assert.Contains("4 /proc/version", Section(packed, "fds"));
        Assert.Contains("LISTEN_FDS=2", Section(packed, "env"));
        Assert.Equal(["listen-pid-is-the-payload"], Section(packed, "case"));
    }

    [Theory]
    [InlineData("missing-command", 127, "")]
    [InlineData("exit-status", 42, "")]
    [InlineData("killed-by-signal", -15, "")]
    [InlineData("no-command-runs-bash", 0, "")]
    [InlineData("version", 0, "27~devel")]
    [InlineData("unknown-option", 1, "mkosi-sandbox: Unrecognized option --frobnicate")]
    [InlineData("missing-argument", 1, "mkosi-sandbox: --tmpfs: missing argument")]
    [InlineData("missing-bind-source", 1, "mkosi-sandbox: bind mount /nonexistent on /x: can't find source /nonexistent: No such file or directory")]
    [InlineData("symlink-over-directory", 1, "mkosi-sandbox: create symlink /d: a different file already exists there")]
    [InlineData("not-executable", 1, "mkosi-sandbox: execvp /usr/share/common-licenses/GPL: Permission denied")]
    public void Exit_statuses_and_messages(string name, int status, string stderr)
    {
        var o = Run(MkosiCases.Get(name));
        Assert.True(status == o.Status, o.ToString());
        Assert.Equal(stderr, o.Stderr);
    }

    [Fact]
    public void Help_goes_to_stderr()
    {
        var o = Run(MkosiCases.Get("help"));
        Assert.Equal(0, o.Status);
        Assert.Equal("", o.Stdout);
        Assert.StartsWith("mkosi-sandbox [OPTIONS...] COMMAND [ARGUMENTS...]", o.Stderr);
        Assert.Contains("--overlay-upperdir", o.Stderr);
    }

    [Fact]
    public void Unsupported_options_fail_with_one_line()
    {
        var foreign = Run(MkosiCases.Get("bind-foreign"));
        Assert.Equal(1, foreign.Status);
        Assert.StartsWith("mkosi-sandbox: --bind-foreign and --ro-bind-foreign need systemd-nsresourced", foreign.Stderr);
        Assert.DoesNotContain('\n', foreign.Stderr);
    }

    [Fact]
    public void Suppressed_chown_and_sync_succeed_doing_nothing()
    {
        var chown = Run(MkosiCases.Get("suppress-chown"));
        Assert.Equal(0, chown.Status);
        Assert.EndsWith("## case\nchowned\n" + (TestEnvironment.IsRoot ? "12345" : $"{TestEnvironment.Uid}"), chown.Stdout);
        var plain = Run(new MkosiCase("chown-refused") { Options = ["--tmpfs", "/t"], Script = "touch /t/f && chown 12345:12345 /t/f 2>/t/err && echo chowned || echo refused" });
        Assert.True(plain.Stdout.EndsWith(TestEnvironment.IsRoot ? "## case\nchowned" : "## case\nrefused", StringComparison.Ordinal), plain.ToString());
        var sync = Run(MkosiCases.Get("suppress-sync"));
        Assert.Equal(0, sync.Status);
        Assert.EndsWith("## case\nsynced", sync.Stdout);
    }

    [Fact]
    public void Debug_prints_the_operations_in_the_order_they_run()
    {
        var o = Run(MkosiCases.Get("debug-order"));
        Assert.Equal(0, o.Status);
        string f = MkosiHarness.Fixture;
        Assert.Equal(
        [
            "+ tmpfs at /a", $"+ bind {f}/file -> /a/b/h", "+ write 5 bytes to /a/w", "+ symlink /bin -> usr/bin", "+ dev at /dev",
            "+ symlink /lib -> usr/lib", "+ symlink /lib64 -> usr/lib64", $"+ overlay at /ov (lowers=[{f}/b, {f}/a], upper=tmpfs)",
            "+ bind /proc -> /proc", "+ bind /usr -> /usr [readonly]", "+ bind /a -> /rel [relative]",
        ], o.Stderr.Split('\n'));
    }

    [Fact]
    public void Nothing_but_its_own_lines_reaches_a_terminal()
    {
        // System.Console would switch a terminal's keypad mode ("\e[?1h\e=") under the payload's feet.
        if (!File.Exists("/usr/bin/script"))
            Assert.Skip("needs script(1) from util-linux for a pseudo-terminal");
        string command = string.Join(' ', [.. MkosiHarness.Husk, .. MkosiHarness.Base, "--debug", "--bogus"]);
        var (_, output, _) = TestEnvironment.Exec("/usr/bin/script", ["-qec", command, "/dev/null"]);
        Assert.Equal("mkosi-sandbox: Unrecognized option --bogus\r\n", output);
        command = string.Join(' ', [.. MkosiHarness.Husk, .. MkosiHarness.Base, "--debug", "true"]);
        (_, output, _) = TestEnvironment.Exec("/usr/bin/script", ["-qec", command, "/dev/null"]);
        Assert.StartsWith("\x1b[0;38;5;245m+ symlink /bin -> usr/bin\x1b[0m\r\n", output); // grey, as on a terminal
        Assert.DoesNotContain("\x1b[?1h", output);
    }

    /// <summary>Owner of what the sandbox creates, as find prints it: the caller, or root for root.</summary>
    private static string Ids() => TestEnvironment.IsRoot ? "0:0" : $"{TestEnvironment.Uid}:{TestEnvironment.Gid}";
}

/// <summary>As root, mkosi-sandbox makes no user namespace: the payload is the host's root, in a mount namespace of its own.</summary>
public class MkosiSandboxRootTests
{
    [Fact]
    [Trait("Category", "Root")]
    public void Root_stays_root_with_every_capability_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var o = MkosiHarness.Run(MkosiHarness.Husk, MkosiCases.Get("unshare-net-ipc"));
        Assert.True(o.Status == 0, o.ToString());
        string[] lines = o.Stdout.Split('\n');
        Assert.Contains("user host", lines);
        Assert.Contains("mnt new", lines);
        Assert.Contains("net new", lines);
        string own = File.ReadLines("/proc/self/status").First(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
        Assert.Contains(own, lines);
        Assert.Contains("0 0 4294967295", lines.Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries))));
    }
}
