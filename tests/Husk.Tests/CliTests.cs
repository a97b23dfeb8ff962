using System.Text.Json;
using Husk.Cli.Run;

namespace Husk.Tests;

/// <summary>The native CLI, driven as a user would: artifacts/bin/husk with real sandboxes.</summary>
public class CliTests
{
    private static (int Code, string Stdout, string Stderr) Husk(params string[] args) =>
        TestEnvironment.Exec(TestEnvironment.Husk, args);

    private static (int Code, string Stdout, string Stderr) HuskWithHome(string home, params string[] args) =>
        TestEnvironment.Exec(TestEnvironment.Husk, args, env: new Dictionary<string, string> { ["HOME"] = home });

    [Fact]
    public void Default_sandbox_isolates_everything_but_time()
    {
        var r = Husk("run", "--", TestEnvironment.Probe);
        Assert.Equal(0, r.Code);
        var probe = JsonDocument.Parse(r.Stdout).RootElement;
        var host = JsonDocument.Parse(TestEnvironment.Exec(TestEnvironment.Probe, []).Stdout).RootElement;
        foreach (string ns in new[] { "user", "mnt", "pid", "ipc", "uts", "net", "cgroup" })
            Assert.NotEqual(host.GetProperty("ns").GetProperty(ns).GetString(), probe.GetProperty("ns").GetProperty(ns).GetString());
        Assert.Equal("husk", probe.GetProperty("hostname").GetString());
        Assert.Equal("0000000000000000", probe.GetProperty("status").GetProperty("CapBnd").GetString());
        Assert.Equal("1", probe.GetProperty("status").GetProperty("NoNewPrivs").GetString());
        // A new session: the payload is its own session leader.
        Assert.Equal(probe.GetProperty("pid").GetInt32(), probe.GetProperty("sid").GetInt32());
        var mounts = probe.GetProperty("mounts").EnumerateArray().ToDictionary(m => m.GetProperty("target").GetString()!, m => m, StringComparer.Ordinal);
        Assert.Contains("ro", mounts["/"].GetProperty("options").GetString()!.Split(','));
        Assert.Equal("proc", mounts["/proc"].GetProperty("fstype").GetString());
        Assert.Equal("tmpfs", mounts["/tmp"].GetProperty("fstype").GetString());
        Assert.Equal("tmpfs", mounts["/dev"].GetProperty("fstype").GetString());
        Assert.Equal("devpts", mounts["/dev/pts"].GetProperty("fstype").GetString());
    }

    [Fact]
    public void Host_tree_is_read_only_in_ro_mode_and_tmp_is_private()
    {
        string marker = $"husk-cli-{Guid.NewGuid():N}";
        var r = Husk("run", "--fs", "ro", "--", "/bin/sh", "-c", $"echo x > /tmp/{marker} && cat /tmp/{marker}; touch /usr/{marker} 2>&1; echo rc=$?");
        Assert.Equal(0, r.Code);
        Assert.StartsWith("x\n", r.Stdout);
        Assert.Contains("Read-only file system", r.Stdout);
        Assert.False(File.Exists($"/tmp/{marker}"));
        Assert.False(File.Exists($"/usr/{marker}"));
    }

    [Fact]
    public void Secrets_in_home_are_hidden_unless_shown()
    {
        string home = TestEnvironment.HomeWithSecrets();
        try
        {
            string script = $"cat {home}/notes.txt; ls -A {home}/.ssh | wc -l; cat {home}/.netrc 2>&1 | head -c 40; echo";
            var hidden = HuskWithHome(home, "run", "--", "/bin/sh", "-c", script);
            Assert.Equal(0, hidden.Code);
            Assert.StartsWith("public\n0\n", hidden.Stdout);
            Assert.DoesNotContain("SECRET", hidden.Stdout);
            Assert.DoesNotContain("hunter2", hidden.Stdout);
            var shown = HuskWithHome(home, "run", "--show-secrets", "--", "/bin/sh", "-c", $"cat {home}/.ssh/id_ed25519 {home}/.netrc");
            Assert.Equal(0, shown.Code);
            Assert.Contains("SECRET KEY", shown.Stdout);
            Assert.Contains("hunter2", shown.Stdout);
        }
        finally
        {
            TestEnvironment.DeleteTree(home);
        }
    }

    [Fact]
    public void Exit_status_is_the_payloads_and_128_plus_signal()
    {
        Assert.Equal(5, Husk("run", "--", "/bin/sh", "-c", "exit 5").Code);
        Assert.Equal(128 + 9, Husk("run", "--", "/bin/sh", "-c", "kill -KILL $$").Code);
        Assert.Equal(0, Husk("run", "--as-pid-1", "--", "/bin/true").Code);
    }

    [Theory]
    [InlineData("USR1", Interop.Interop.Signals.SIGUSR1)]
    [InlineData("TERM", Interop.Interop.Signals.SIGTERM)]
    public void Signals_sent_to_husk_reach_the_payload(string name, int signal)
    {
        // Output through the supervisor (--output-limit): "ready" arrives only once it holds the
        // sandbox, so the signal cannot come before there is a payload to forward it to.
        using var husk = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(TestEnvironment.Husk)
        {
            ArgumentList = { "run", "--output-limit", "1M", "--", "/bin/sh", "-c", $"trap 'echo got-{name}; exit 3' {name}; echo ready; while :; do sleep 0.05; done" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            Assert.Equal("ready", husk.StandardOutput.ReadLine());
            Assert.Equal(0, Interop.Interop.Kill(husk.Id, signal));
            Assert.Equal($"got-{name}", husk.StandardOutput.ReadLine());
            Assert.True(husk.WaitForExit(10_000));
            Assert.Equal(3, husk.ExitCode);
        }
        finally
        {
            if (!husk.HasExited)
                husk.Kill();
        }
    }

    [Fact]
    public void Usage_errors_exit_2_with_one_line()
    {
        foreach (var (args, message) in new (string[], string)[]
        {
            (["run", "--no-such-option", "x"], "husk run: unknown option --no-such-option (see husk run --help)"),
            (["run"], "husk run: no command given: husk run [OPTIONS] -- COMMAND [ARGS...]"),
            (["run", "--bind", "/usr"], "husk run: --bind needs SRC DST"),
            (["run", "--tmpfs", "relative", "--", "true"], "husk run: destination must be an absolute path: relative"),
            (["run", "--size", "12x", "--tmpfs", "/x", "--", "true"], "husk run: --size: 12x: expected a size such as 512M, 1.5G or 2GB"),
            (["run", "--fs", "nonsense", "--", "true"], "husk run: --fs: unknown mode nonsense: use overlay, ro, tmpfs, host or a directory path"),
            (["run", "--overlay-src", "/usr", "--", "true"], "husk run: --overlay-src must be followed by --overlay, --tmp-overlay or --ro-overlay"),
        })
        {
            var r = Husk(args);
            Assert.Equal(2, r.Code);
            Assert.Equal(message, r.Stderr.TrimEnd('\n'));
        }
    }

    [Fact]
    public void A_command_line_husk_cannot_read_gets_one_line_not_the_help()
    {
        foreach (var (args, message) in new (string[], string)[]
        {
            ([], "husk: no command given: run|ps|enter|kill|changes|diff|commit|discard|install|profile|image|completion (see husk --help)"),
            (["ps", "--bogus"], "husk ps: unknown option --bogus (see husk ps --help)"),
            (["frob"], "husk: unknown command frob (see husk --help)"),
            (["discard"], "husk discard: missing DIR (see husk discard --help)"),
            (["profile"], "husk profile: no command given: list|show (see husk profile --help)"),
            (["completion", "csh"], "husk completion: Argument 'csh' not recognized. Must be one of: 'bash' 'zsh' 'fish' (see husk completion --help)"),
        })
        {
            var r = Husk(args);
            Assert.Equal((2, message + "\n", ""), (r.Code, r.Stderr, r.Stdout));
        }
    }

    [Fact]
    public void Messages_name_the_option_and_the_path_never_a_runtime_resource_key()
    {
        foreach (var (args, code, message) in new (string[], int, string)[]
        {
            (["run", "--root", "/proc/husk-root", "--", "true"], 2, "husk run: --root /proc/husk-root: No such file or directory"),
            (["run", "--fs", "ro", "--report", "/dev/full", "--", "true"], 0, "husk: --report /dev/full: No space left on device"),
            (["run", "--fs", "ro", "--chdir", "/nonexistent", "--", "true"], 1, "husk run: --chdir /nonexistent: No such file or directory"),
            (["run", "--allow-syscall", "unshare", "--", "true"], 2,
                "husk run: --allow-syscall unshare: nested user namespaces stay impossible inside (they fail with ENOSPC): add --allow-userns to allow them, or --disable-userns to keep them off"),
            (["run", "--userns", "host", "--", "true"], 2, "husk run: --userns host: --userns takes the descriptor of a namespace to join; --share-user keeps the caller's"),
        })
        {
            var r = Husk(args);
            Assert.Equal((code, message + "\n"), (r.Code, r.Stderr));
        }
        // Explicitly either way, the call is allowed.
        Assert.Equal(0, Husk("run", "--fs", "ro", "--allow-syscall", "unshare", "--disable-userns", "--", "true").Code);
    }

    [Fact]
    public void Capabilities_the_caller_lacks_are_named_when_the_user_namespace_is_shared()
    {
        // As an unprivileged caller nothing can be kept; as root, ALL is what root has.
        ulong held = global::Husk.Policy.ProcessCapabilities.Current().Permitted;
        Assert.Equal(held, RunArguments.KeepableCapabilities(global::Husk.Policy.CapabilityNames.All, all: true, held));
        var e = Assert.Throws<UsageException>(() => RunArguments.KeepableCapabilities((1UL << 13) | (1UL << 24), all: false, held: 1UL << 13));
        Assert.Equal("husk run: --cap-add CAP_SYS_RESOURCE: the caller does not have it, and with --share-user the payload keeps only the caller's capabilities", e.Message);
        if (!TestEnvironment.IsRoot)
        {
            var r = Husk("run", "--share-user", "--share-mount", "--cap-add", "NET_RAW", "--", "true");
            Assert.Equal((2, "husk run: --cap-add CAP_NET_RAW: the caller does not have it, and with --share-user the payload keeps only the caller's capabilities\n"), (r.Code, r.Stderr));
        }
    }

    [Fact]
    [Trait("Category", "Root")]
    public void Root_sharing_its_user_namespace_keeps_all_the_capabilities_it_has()
    {
        var r = Husk("run", "--share-user", "--fs", "ro", "--cap-add", "ALL", "--", "/bin/sh", "-c", "grep CapEff /proc/self/status");
        Assert.Equal(0, r.Code);
        Assert.Equal(global::Husk.Policy.ProcessCapabilities.Current().Permitted.ToString("x16"), r.Stdout.Split('\t')[^1].Trim());
    }

    [Fact]
    public void Setup_errors_exit_1_and_missing_commands_127()
    {
        var bad = Husk("run", "--bind", "/no/such/dir", "/x", "--", "/bin/true");
        Assert.Equal(1, bad.Code);
        Assert.Equal("husk: bind mount /no/such/dir on /x: can't find source /no/such/dir: No such file or directory", bad.Stderr.TrimEnd('\n'));
        var missing = Husk("run", "--", "no-such-program-anywhere");
        Assert.Equal(127, missing.Code);
        Assert.Equal("husk: execvp no-such-program-anywhere: No such file or directory", missing.Stderr.TrimEnd('\n'));
        var notExec = Husk("run", "--", "/etc/passwd");
        Assert.Equal(126, notExec.Code);
    }

    [Fact]
    public void Filesystem_options_apply_in_order()
    {
        var r = Husk("run", "--tmpfs", "/data", "--dir", "/data/a", "--write", "hello", "/data/a/f", "--tmpfs", "/data/a/hidden",
            "--symlink", "a/f", "/data/link", "--perms", "0700", "--dir", "/data/private", "--ro-bind", "/etc/hostname", "/data/h",
            "--", "/bin/sh", "-c", "cat /data/link; echo; stat -c '%a' /data/private; ls /data/a/hidden | wc -l; test -f /data/h && echo bound");
        Assert.Equal(0, r.Code);
        Assert.Equal(["hello", "700", "0", "bound"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void Info_and_json_status_fds_use_bubblewraps_format()
    {
        string dir = Directory.CreateTempSubdirectory("husk-fds").FullName;
        try
        {
            // The shell opens the files as fds 3 and 4 for husk.
            string info = Path.Combine(dir, "info"), status = Path.Combine(dir, "status");
            var r = TestEnvironment.Exec("/bin/sh", ["-c", $"exec 3>{info} 4>{status}; exec {TestEnvironment.Husk} run --info-fd 3 --json-status-fd 4 -- /bin/sh -c 'exit 7'"]);
            Assert.Equal(7, r.Code);
            var infoDoc = JsonDocument.Parse(File.ReadAllText(info)).RootElement;
            Assert.True(infoDoc.GetProperty("child-pid").GetInt32() > 0);
            foreach (string ns in new[] { "cgroup", "ipc", "mnt", "net", "pid", "uts" })
                Assert.True(infoDoc.GetProperty($"{ns}-namespace").GetUInt64() > 0);
            string[] lines = File.ReadAllLines(status);
            Assert.Equal(2, lines.Length);
            Assert.Equal(infoDoc.GetProperty("child-pid").GetInt32(), JsonDocument.Parse(lines[0]).RootElement.GetProperty("child-pid").GetInt32());
            Assert.Equal(7, JsonDocument.Parse(lines[1]).RootElement.GetProperty("exit-code").GetInt32());
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Only_stdio_and_passed_fds_reach_the_payload()
    {
        var r = TestEnvironment.Exec("/bin/sh", ["-c", $"exec 5</dev/null 6</dev/null; exec {TestEnvironment.Husk} run --pass-fd 6 -- /bin/sh -c 'ls /proc/self/fd'"]);
        Assert.Equal(0, r.Code);
        var fds = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        Assert.Contains(6, fds);
        Assert.DoesNotContain(5, fds);
    }

    [Fact]
    public void Ps_enter_and_kill_manage_running_sandboxes()
    {
        string name = $"t{Guid.NewGuid():N}"[..12];
        using var runner = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(TestEnvironment.Husk)
        {
            ArgumentList = { "run", "--name", name, "--", "/bin/sh", "-c", "echo started > /tmp/mark; exec sleep 60" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            string? id = null;
            for (int i = 0; i < 100 && id is null; i++)
            {
                var ps = Husk("ps");
                id = ps.Stdout.Split('\n').FirstOrDefault(l => l.Contains(name))?.Split(' ')[0];
                if (id is null)
                    Thread.Sleep(50);
            }
            Assert.NotNull(id);
            // enter sees the sandbox's own /tmp, hostname and processes.
            var enter = Husk("enter", name, "--", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do test -f /tmp/mark && break; sleep 0.1; done; cat /tmp/mark; hostname; ps -o comm= -p 2");
            Assert.Equal(0, enter.Code);
            Assert.Equal(["started", "husk", "sleep"], enter.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal(0, Husk("kill", id!).Code);
            Assert.True(runner.WaitForExit(10_000));
            Assert.Equal(128 + 9, runner.ExitCode);
            Assert.DoesNotContain(name, Husk("ps").Stdout);
            Assert.Equal(2, Husk("kill", name).Code);
        }
        finally
        {
            if (!runner.HasExited)
                runner.Kill();
        }
    }

    [Fact]
    public void Enter_gives_the_payloads_seccomp_filter_landlock_domain_capabilities_and_no_new_privs()
    {
        // What each side can do: its status fields, a file in /dev (a writable tmpfs that Landlock's
        // rules keep to reading and writing nodes), a nested user namespace, an io_uring.
        const string walls = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; " +
            "touch /dev/husk-enter-$$ 2>/dev/null && echo dev-writable || echo dev-refused; " +
            "unshare -U true 2>/dev/null && echo userns || echo no-userns; " +
            "python3 -c 'import ctypes,os; r=ctypes.CDLL(None,use_errno=True).syscall(425,1,ctypes.create_string_buffer(120)); print(\"io_uring\" if r>=0 else \"io_uring-errno-%d\" % ctypes.get_errno())'";
        string name = $"t{Guid.NewGuid():N}"[..12];
        using var runner = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(TestEnvironment.Husk)
        {
            ArgumentList = { "run", "--fs", "ro", "--name", name, "--", "/bin/sh", "-c", $"({walls}) > /tmp/payload; echo done >> /tmp/payload; exec sleep 60" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            string? payload = null;
            for (int i = 0; i < 100 && payload is null; i++)
            {
                var cat = Husk("enter", name, "--", "/bin/cat", "/tmp/payload");
                if (cat.Code == 0 && cat.Stdout.EndsWith("done\n", StringComparison.Ordinal))
                    payload = cat.Stdout[..^"done\n".Length];
                else
                    Thread.Sleep(50);
            }
            Assert.NotNull(payload);
            var entered = Husk("enter", name, "--", "/bin/sh", "-c", walls);
            Assert.Equal(0, entered.Code);
            Assert.Equal(payload, entered.Stdout);
            Assert.Contains("NoNewPrivs:\t1", payload);
            Assert.Contains("Seccomp:\t2", payload);
            Assert.Contains("CapEff:\t0000000000000000", payload);
            Assert.Contains("dev-refused", payload);
            Assert.Contains("no-userns", payload);
            Assert.DoesNotContain("io_uring\n", payload);
        }
        finally
        {
            Husk("kill", name);
            if (!runner.WaitForExit(10_000))
                runner.Kill();
        }
    }

    [Fact]
    public void Tty_gives_the_payload_its_own_terminal_through_a_real_terminal()
    {
        using var term = new TestTerminal(Path.GetTempPath(), $"{TestEnvironment.Husk} run --tty -- /bin/sh; echo EXIT=$?; sleep 30", 100, 30);
        Assert.True(term.WaitFor("$", 5), term.Text);
        term.Send("tty; stty size; exit 4", "Enter");
        Assert.True(term.WaitFor("EXIT="), term.Text);
        Assert.Contains("/dev/pts/0", term.Text);
        Assert.Contains("30 100", term.Text);
        Assert.Contains("EXIT=4", term.Text);
    }

    [Fact]
    public void Shells_get_job_control_in_the_terminals_foreground_without_tty()
    {
        // bash and dash as the payload, in a terminal: their own process group in the foreground,
        // which they can take and give back (no "no job control", no error when they exit).
        foreach (string shell in new[] { "bash --norc --noprofile -i", "/bin/sh -i" })
        {
            using var term = new TestTerminal(Path.GetTempPath(), $"{TestEnvironment.Husk} run --discard -- {shell}; echo EXIT=$?; sleep 30", 100, 30);
            Assert.True(term.WaitFor("$ ", 10), term.Text);
            term.Send("set -o | grep monitor; sleep 5 & jobs; kill %1; exit 3", "Enter");
            Assert.True(term.WaitFor("EXIT="), term.Text);
            Assert.Matches(@"monitor\s+on", term.Text);
            Assert.Contains("EXIT=3", term.Text);
            Assert.DoesNotContain("job control", term.Text);
            Assert.DoesNotContain("process group", term.Text);
        }
    }

    [Fact]
    public void Ctrl_z_stops_the_sandbox_with_husk_and_fg_gives_it_the_terminal_again()
    {
        using var term = new TestTerminal(Path.GetTempPath(), "bash --norc --noprofile -i", 120, 30);
        Assert.True(term.WaitFor("$ ", 10), term.Text);
        // What the payload prints, never what was typed (a Ctrl-Z before it runs stops husk alone).
        term.Send($"{TestEnvironment.Husk} run --discard -- /bin/sh -c 'echo \"ready\"-now; for n in 1 2 3; do read a; echo got-$a; done'", "Enter");
        Assert.True(term.WaitFor("ready-now"), term.Text);
        // Several times: on SIGCONT the runtime put its own terminal modes back, racing the lend,
        // and from the background that stopped husk again right after fg (SIGTTOU), now and then.
        string[] words = ["one", "two", "three"];
        for (int i = 0; i < words.Length; i++)
        {
            term.Send("C-z");
            Assert.True(WaitForCount(term, "Stopped", i + 1), term.Text);
            term.Send("fg", "Enter");
            // The sandbox's group (husk-init leads it) has the terminal again, not husk's: what is typed is its.
            Assert.True(term.WaitForFormat("#{pane_current_command}", "husk-init"), term.Screen());
            term.Send(words[i], "Enter");
            Assert.True(term.WaitFor("got-" + words[i]), term.Text);
            Assert.Equal(i + 1, Count(term.Screen(), "Stopped"));
        }
        term.Send("echo EXIT=$?", "Enter");
        Assert.True(term.WaitFor("EXIT=0"), term.Text);
    }

    private static int Count(string text, string what) => (text.Length - text.Replace(what, "").Length) / what.Length;

    private static bool WaitForCount(TestTerminal term, string what, int count)
    {
        for (int i = 0; i < 100; i++)
        {
            if (Count(term.Screen(), what) >= count)
                return true;
            Thread.Sleep(100);
        }
        return false;
    }

    [Fact]
    public void The_terminals_cursor_keys_and_keypad_are_normal_again_after_husk()
    {
        // System.Console switches them to application mode on first use; a payload on --tty that
        // switches them and is killed cannot switch them back.
        foreach (string command in new[] { "--version", "run --discard --tty -- /bin/sh -c 'printf \"\\033[?1h\\033=\"; kill -9 $$'" })
        {
            using var term = new TestTerminal(Path.GetTempPath(), $"{TestEnvironment.Husk} {command}; echo EXIT=$?; sleep 30", 100, 30);
            Assert.True(term.WaitFor("EXIT="), term.Text);
            Assert.Equal("0 0", term.Format("#{keypad_cursor_flag} #{keypad_flag}"));
        }
    }

    [Fact]
    public void Install_puts_the_binary_links_man_pages_and_completions_under_the_prefix()
    {
        string prefix = Directory.CreateTempSubdirectory("husk-install").FullName;
        try
        {
            var r = Husk("install", "--prefix", prefix);
            Assert.Equal(0, r.Code);
            string bin = Path.Combine(prefix, "bin");
            var huskIno = new FileInfo(Path.Combine(bin, "husk"));
            Assert.True(huskIno.Exists);
            string[] personalities = ["bwrap", "mkosi-sandbox", "mbox", "try", "microbox", "mini-sandbox", "husk-runtime"];
            string built = Path.GetDirectoryName(TestEnvironment.Husk)!;
            foreach (string name in personalities)
            {
                // build.sh makes the same links beside the built binary (the two lists drifted apart in a merge before).
                Assert.Equal(Inode(TestEnvironment.Husk), Inode(Path.Combine(built, name)));
                // Hard links: the same inode, so /proc/self/exe keeps the personality's name.
                Assert.Equal(Inode(Path.Combine(bin, "husk")), Inode(Path.Combine(bin, name)));
            }
            // Every front door's page, the personalities' rendered from Markdown to roff.
            foreach (string page in new[] { "husk", "bwrap", "mkosi-sandbox", "mbox", "try", "microbox", "mini-sandbox", "husk-runtime" })
                Assert.StartsWith(".TH ", File.ReadAllText(Path.Combine(prefix, "share", "man", "man1", page + ".1")));
            Assert.Contains("complete -F _husk husk", File.ReadAllText(Path.Combine(prefix, "share", "bash-completion", "completions", "husk")));
            Assert.True(File.Exists(Path.Combine(prefix, "share", "zsh", "site-functions", "_husk")));
            Assert.True(File.Exists(Path.Combine(prefix, "share", "fish", "vendor_completions.d", "husk.fish")));
            Assert.Equal(0, TestEnvironment.Exec(Path.Combine(bin, "husk"), ["--version"]).Code);
        }
        finally
        {
            TestEnvironment.DeleteTree(prefix);
        }
    }

    [Fact]
    public void Every_run_option_is_documented_in_the_man_page_and_completions()
    {
        string man = File.ReadAllText(Path.Combine(TestEnvironment.Repository, "docs", "man", "husk.1"));
        string bash = Husk("completion", "bash").Stdout;
        string help = Husk("run", "--help").Stdout;
        foreach (var option in global::Husk.Cli.Run.RunOptions.All)
        {
            Assert.Contains(option.Name.Replace("-", "\\-"), man);
            Assert.Contains(option.Name, bash);
            Assert.Contains(option.Name, help);
        }
    }

    private static ulong Inode(string path)
    {
        Assert.Equal(0, global::Husk.Interop.Interop.TryStat(path, out var st));
        return st.Ino;
    }
}
