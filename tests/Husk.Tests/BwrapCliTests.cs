using System.Text.Json;

namespace Husk.Tests;

/// <summary>The bwrap front door end to end: artifacts/bin/bwrap run from a shell, as bubblewrap's callers run it.</summary>
public sealed class BwrapCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("husk-bwrap").FullName;

    public void Dispose()
    {
        MakeRemovable(_dir);
        TestEnvironment.DeleteTree(_dir);
    }

    // Modes the tests set (and overlayfs's 000 work/work) must not stop the cleanup.
    private static void MakeRemovable(string dir)
    {
        File.SetUnixFileMode(dir, (UnixFileMode)0x1C0);
        foreach (string sub in Directory.GetDirectories(dir))
        {
            if (new DirectoryInfo(sub).LinkTarget is null)
                MakeRemovable(sub);
        }
    }

    private static string Bwrap => Path.Combine(TestEnvironment.Artifacts, "bin", "bwrap");

    /// <summary>Runs a bash script in the test's directory with $BWRAP set, as bubblewrap's own tests do.</summary>
    private (int Code, string Stdout, string Stderr) Sh(string script) =>
        TestEnvironment.Exec("/bin/bash", ["-c", "set -u; cd \"$T\"; " + script], env: new Dictionary<string, string> { ["BWRAP"] = Bwrap, ["T"] = _dir });

    private string Read(string name) => File.ReadAllText(Path.Combine(_dir, name));

    [Fact]
    public void Help_version_and_usage_errors()
    {
        var help = Sh("$BWRAP --help");
        Assert.Equal(0, help.Code);
        Assert.StartsWith($"usage: {Bwrap} [OPTIONS...] [--] COMMAND [ARGS...]\n", help.Stdout);
        Assert.Equal("", help.Stderr);
        var none = Sh("$BWRAP");
        Assert.Equal(1, none.Code);
        Assert.StartsWith("usage: ", none.Stderr);
        Assert.Equal((0, "bubblewrap 0.11.1\n"), (Sh("$BWRAP --version").Code, Sh("$BWRAP --version").Stdout));
        var unknown = Sh("$BWRAP --bogus true");
        Assert.Equal((1, "bwrap: Unknown option --bogus\n"), (unknown.Code, unknown.Stderr));
    }

    [Fact]
    public void Exit_status_is_the_commands_or_128_plus_its_signal()
    {
        Assert.Equal(7, Sh("$BWRAP --bind / / sh -c 'exit 7'").Code);
        Assert.Equal(143, Sh("$BWRAP --bind / / sh -c 'kill -TERM $$'").Code);
        Assert.Equal(9, Sh("$BWRAP --bind / / --unshare-pid sh -c 'exit 9'").Code);
        Assert.Equal(137, Sh("$BWRAP --bind / / --unshare-pid sh -c 'kill -KILL $$'").Code);
        var pid1 = Sh("$BWRAP --bind / / --unshare-pid --as-pid-1 sh -c 'echo $$'");
        Assert.Equal((0, "1\n"), (pid1.Code, pid1.Stdout));
    }

    [Fact]
    public void Setup_errors_use_bubblewraps_words_and_exit_1()
    {
        var missing = Sh("$BWRAP --bind / / --tmpfs /tmp --unshare-pid --bind /source-enoent /dest true");
        Assert.Equal((1, "bwrap: Can't find source path /source-enoent: No such file or directory\n"), (missing.Code, missing.Stderr));
        var exec = Sh("$BWRAP --bind / / /");
        Assert.Equal((1, "bwrap: execvp /: Permission denied\n"), (exec.Code, exec.Stderr));
        var chdir = Sh("$BWRAP --bind / / --chdir /nonexistent true");
        Assert.Equal((1, "bwrap: Can't chdir to /nonexistent: No such file or directory\n"), (chdir.Code, chdir.Stderr));
        var warned = Sh("$BWRAP --bind / / --level-prefix --chdir / --chdir / --remount-ro /no/such true");
        Assert.Equal(1, warned.Code);
        Assert.Equal("<4>bwrap: Only the last --chdir option will take effect\n" +
            "<3>bwrap: Can't remount readonly on /newroot/no/such: realpath(destination): No such file or directory\n", warned.Stderr);
    }

    [Fact]
    public void Symlinks_may_exist_already_but_not_differently()
    {
        Assert.Equal(0, Sh("$BWRAP --ro-bind / / --bind \"$T\" \"$T\" --symlink /dev/null \"$T/link\" true").Code);
        Assert.Equal("/dev/null", new FileInfo(Path.Combine(_dir, "link")).LinkTarget);
        Assert.Equal(0, Sh("$BWRAP --ro-bind / / --bind \"$T\" \"$T\" --symlink /dev/null \"$T/link\" true").Code);
        var conflict = Sh("$BWRAP --ro-bind / / --bind \"$T\" \"$T\" --symlink /dev/full \"$T/link\" true");
        Assert.Equal((1, $"bwrap: Can't make symlink at {_dir}/link: existing destination is /dev/null\n"), (conflict.Code, conflict.Stderr));
    }

    [Fact]
    public void Info_and_json_status_are_bubblewraps_json()
    {
        var r = Sh("$BWRAP --bind / / --proc /proc --unshare-all --info-fd 3 --json-status-fd 4 -- sh -c 'readlink /proc/self/ns/pid /proc/self/ns/net; exit 42' 3>info 4>status");
        Assert.Equal(42, r.Code);
        var info = JsonDocument.Parse(Read("info")).RootElement;
        Assert.StartsWith("{\n    \"child-pid\": ", Read("info"));
        string[] seen = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(seen[0], $"pid:[{info.GetProperty("pid-namespace").GetUInt64()}]");
        Assert.Equal(seen[1], $"net:[{info.GetProperty("net-namespace").GetUInt64()}]");
        Assert.True(info.TryGetProperty("mnt-namespace", out _));
        string[] status = Read("status").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, status.Length);
        Assert.Equal(info.GetProperty("child-pid").GetInt32(), JsonDocument.Parse(status[0]).RootElement.GetProperty("child-pid").GetInt32());
        Assert.StartsWith("{ \"child-pid\": ", status[0]);
        Assert.Equal("{ \"exit-code\": 42 }", status[1]);
        // A command that could not be run has no exit code.
        Sh("$BWRAP --bind / / --json-status-fd 4 / 4>status");
        Assert.DoesNotContain("exit-code", Read("status"));
        Assert.Contains("child-pid", Read("status"));
    }

    [Fact]
    public void Created_files_and_directories_get_bubblewraps_modes()
    {
        var r = Sh("$BWRAP --bind / / --tmpfs /tmp " +
            "--dir /tmp/a/b --perms 0750 --dir /tmp/c/d --perms 0604 --dir /tmp/e/f --bind /etc /tmp/g/h --perms 1777 --tmpfs /tmp/t " +
            "--file 5 /tmp/file --bind-data 6 /tmp/bound --perms 0640 --ro-bind-data 7 /tmp/robound --dir /tmp/m --chmod 1700 /tmp/m " +
            "stat -c '%a %n' /tmp/a /tmp/c /tmp/e /tmp/g /tmp/g/h /tmp/t /tmp/file /tmp/bound /tmp/robound /tmp/m 5</dev/null 6</dev/null 7</dev/null");
        Assert.Equal(0, r.Code);
        Assert.Equal(["755 /tmp/a", "750 /tmp/c", "705 /tmp/e", "700 /tmp/g", "755 /tmp/g/h", "1777 /tmp/t",
            "666 /tmp/file", "600 /tmp/bound", "640 /tmp/robound", "1700 /tmp/m"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var size = Sh("$BWRAP --bind / / --size 1048576 --tmpfs /tmp df --output=size --block-size=1K /tmp");
        Assert.Equal("1024", size.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim());
    }

    [Fact]
    public void Mount_points_made_on_the_host_are_755_and_444()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "some-dir"));
        File.WriteAllText(Path.Combine(_dir, "some-file"), "");
        Assert.Equal(0, Sh("$BWRAP --bind / / --bind \"$T/some-dir\" \"$T/new-dir\" --bind \"$T/some-file\" \"$T/new-file\" true").Code);
        Assert.Equal((UnixFileMode)0x1ED, File.GetUnixFileMode(Path.Combine(_dir, "new-dir")));
        Assert.Equal((UnixFileMode)0x124, File.GetUnixFileMode(Path.Combine(_dir, "new-file")));
    }

    [Fact]
    public void A_socket_can_be_bound_onto_itself()
    {
        // bubblewrap#409, which its suite tests with /dev/log when that is a socket.
        var r = Sh("python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"sock\")' && " +
            "$BWRAP --bind / / --bind \"$T/sock\" \"$T/sock\" test -S \"$T/sock\"");
        Assert.Equal((0, ""), (r.Code, r.Stderr));
    }

    [Fact]
    public void Environment_argv0_and_args_from_a_descriptor()
    {
        var env = Sh("FOO=wrong BAR=baz $BWRAP --bind / / --setenv FOO bar --unsetenv BAR --chdir /usr sh -c 'echo \"$FOO${BAR:-}\" $PWD $0'");
        Assert.Equal("bar /usr sh\n", env.Stdout);
        var clear = Sh("$BWRAP --bind / / --clearenv /usr/bin/env");
        Assert.Equal($"PWD={_dir}\n", clear.Stdout);
        Assert.Equal("right\n", Sh("$BWRAP --bind / / --argv0 right sh -c 'echo $0'").Stdout);
        var args = Sh("printf -- '--dir\\0/tmp/x/y\\0' > a1; printf -- '--setenv\\0V\\0from-args\\0' > a2; " +
            "$BWRAP --bind / / --tmpfs /tmp --args 3 --args 4 sh -c 'test -d /tmp/x/y && echo $V' 3<a1 4<a2");
        Assert.Equal((0, "from-args\n"), (args.Code, args.Stdout));
    }

    [Fact]
    public void Nested_user_namespaces_can_be_disabled()
    {
        Assert.Equal(0, Sh("$BWRAP --unshare-user --disable-userns --dev-bind / / -- true").Code);
        var nested = Sh("$BWRAP --unshare-user --disable-userns --dev-bind / / -- sh -c 'echo 100 > /proc/sys/user/max_user_namespaces || true; ! $BWRAP --unshare-user --dev-bind / / -- true'");
        Assert.Equal(0, nested.Code);
        Assert.Contains("bwrap: Creating new namespace failed", nested.Stderr);
        var asserted = Sh("$BWRAP --unshare-user --assert-userns-disabled --dev-bind / / -- true");
        Assert.Equal((1, "bwrap: creation of new user namespaces was not disabled as requested\n"), (asserted.Code, asserted.Stderr));
    }

    [Fact]
    public void A_user_keeps_no_capabilities_unless_added()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("root keeps its capabilities; see Root_keeps_its_capabilities_as_root");
        var r = Sh("$BWRAP --bind / / --unshare-pid grep Cap /proc/self/status; $BWRAP --bind / / --uid 0 --cap-add CAP_KILL grep CapEff /proc/self/status");
        Assert.Equal(0, r.Code);
        Assert.Equal(["CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000",
            "CapAmb:\t0000000000000000", "CapEff:\t0000000000000020"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Root_keeps_its_capabilities_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var host = Sh("grep Cap /proc/self/status");
        var inside = Sh("$BWRAP --bind / / --unshare-pid grep Cap /proc/self/status");
        Assert.Equal(host.Stdout, inside.Stdout);
        var dropped = Sh("$BWRAP --bind / / --cap-drop CAP_KILL grep -E 'CapEff|CapBnd' /proc/self/status");
        string[] lines = dropped.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        ulong eff = Convert.ToUInt64(lines[0].Split('\t')[1], 16);
        Assert.Equal(0UL, eff & (1UL << 5));
        Assert.NotEqual(0UL, eff & (1UL << 21));
        Assert.Contains(host.Stdout.Split('\n'), l => l == lines[1]); // bounding set untouched without a user namespace
    }

    [Fact]
    public void Ids_can_be_mapped_by_someone_else_while_bwrap_waits()
    {
        // bubblewrap's userns-block-fd protocol: read the child's pid from --info-fd, map, then unblock.
        var r = Sh("mkfifo info block; " +
            "$BWRAP --unshare-user --info-fd 3 --userns-block-fd 4 --bind / / cat /proc/self/uid_map 3>info 4<>block & " +
            "pid=$(sed -n 's/.*\"child-pid\": \\([0-9]*\\).*/\\1/p' < info); " +
            "echo deny > /proc/$pid/setgroups; echo \"5 $(id -u) 1\" > /proc/$pid/uid_map; echo \"0 $(id -g) 1\" > /proc/$pid/gid_map; " +
            "echo go > block; wait $!");
        Assert.Equal(0, r.Code);
        Assert.Equal($"5 {TestEnvironment.Uid} 1", EngineTests.Normalize(r.Stdout));
    }

    [Fact]
    public void A_signal_during_setup_ends_bwrap()
    {
        // The sandbox waits on --block-fd before exec; nothing runs yet to forward SIGTERM to.
        var r = TestEnvironment.Exec("/bin/bash", ["-c", "cd \"$T\"; mkfifo f info; exec 7<>f; " +
            "$BWRAP --bind / / --info-fd 3 --block-fd 7 true 3>info & pid=$!; cat info > /dev/null; kill -TERM $pid; wait $pid"],
            env: new Dictionary<string, string> { ["BWRAP"] = Bwrap, ["T"] = _dir }, timeoutMs: 20_000);
        Assert.Equal(143, r.Code);
    }

    [Fact]
    public void Descriptors_the_caller_did_not_open_are_bad_even_if_the_runtime_has_them()
    {
        // fd 3 is not open in the shell, but .NET opens descriptors of its own at startup.
        var r = Sh("$BWRAP --bind / / --tmpfs /tmp --file 3 /tmp/f true");
        Assert.Equal((1, "bwrap: Can't write data to file /tmp/f: Bad file descriptor\n"), (r.Code, r.Stderr));
        var info = Sh("$BWRAP --bind / / --info-fd 4 true");
        Assert.Equal((1, "bwrap: Write to info_fd: Bad file descriptor\n"), (info.Code, info.Stderr));
        Assert.Equal(0, Sh("$BWRAP --bind / / --block-fd 5 --sync-fd 6 true").Code);
    }

    [Fact]
    public void Consumed_descriptors_do_not_reach_the_command_others_do()
    {
        var r = Sh("$BWRAP --bind / / --info-fd 7 --json-status-fd 8 --file 6 /tmp/f ls /proc/self/fd 6</dev/null 7>info 8>status 9>other");
        Assert.Equal(0, r.Code);
        string[] fds = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("9", fds);
        Assert.DoesNotContain("6", fds);
        Assert.DoesNotContain("7", fds);
        Assert.DoesNotContain("8", fds);
    }

    [Fact]
    public void Overlays_write_where_bubblewrap_writes()
    {
        foreach (string d in new[] { "lower1", "lower2", "upper", "work" })
            Directory.CreateDirectory(Path.Combine(_dir, d));
        File.WriteAllText(Path.Combine(_dir, "lower1", "a"), "1");
        File.WriteAllText(Path.Combine(_dir, "lower1", "b"), "2");
        File.WriteAllText(Path.Combine(_dir, "lower2", "b"), "3");
        var rw = Sh("$BWRAP --bind / / --tmpfs /tmp --overlay-src lower1 --overlay-src lower2 --overlay upper work /tmp/x/y " +
            "sh -c 'cat /tmp/x/y/a /tmp/x/y/b; printf 5 > /tmp/x/y/b'");
        Assert.Equal((0, "13"), (rw.Code, rw.Stdout));
        Assert.Equal("5", Read("upper/b"));
        var tmp = Sh("$BWRAP --bind / / --tmpfs /tmp --overlay-src lower1 --tmp-overlay /tmp/x --overlay-src lower2 --tmp-overlay /tmp/y " +
            "sh -c 'printf 4 > /tmp/x/b; cat /tmp/x/b /tmp/y/b'");
        Assert.Equal((0, "43"), (tmp.Code, tmp.Stdout));
        Assert.Equal("2", Read("lower1/b"));
        var ro = Sh("$BWRAP --bind / / --tmpfs /tmp --overlay-src lower1 --overlay-src lower2 --ro-overlay /tmp/z sh -c 'printf 4 > /tmp/z/b; cat /tmp/z/b'");
        Assert.Equal("3", ro.Stdout);
        Assert.Equal("bwrap: --ro-overlay requires at least two --overlay-src\n", Sh("$BWRAP --bind / / --overlay-src lower1 --ro-overlay /tmp true").Stderr);
    }
}
