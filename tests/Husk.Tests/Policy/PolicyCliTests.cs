using System.Text.Json;
using Husk.Policy;

namespace Husk.Tests.Policy;

/// <summary>husk run's policy options and profile files, through the native CLI.</summary>
public class PolicyCliTests
{
    private static (int Code, string Stdout, string Stderr) Husk(params string[] args) => TestEnvironment.Exec(TestEnvironment.Husk, args);

    private static JsonElement Probe(params string[] options)
    {
        var r = Husk(["run", .. options, "--", TestEnvironment.Probe]);
        Assert.True(r.Code == 0, r.Stderr);
        return JsonDocument.Parse(r.Stdout).RootElement;
    }

    private static string Status(JsonElement probe, string key) => probe.GetProperty("status").GetProperty(key).GetString()!;

    /// <summary>One raw system call in husk run with these options: (ret, errno), or the exit status when it died.</summary>
    private static (long Ret, int Errno, int Code) Call(string[] options, string name, params string[] args)
    {
        var r = Husk(["run", .. options, "--", TestEnvironment.Probe, "syscall", SyscallTable.Native.Number(name)!.Value.ToString(), .. args]);
        if (r.Code != 0)
            return (0, 0, r.Code);
        var json = JsonDocument.Parse(r.Stdout).RootElement;
        return (json.GetProperty("ret").GetInt64(), json.GetProperty("errno").GetInt32(), 0);
    }

    [Fact]
    public void By_default_the_payload_has_seccomp_no_capabilities_locked_securebits_and_no_nested_user_namespaces()
    {
        var probe = Probe();
        Assert.Equal("2", Status(probe, "Seccomp"));
        Assert.Equal("1", Status(probe, "NoNewPrivs"));
        Assert.Equal("0000000000000000", Status(probe, "CapEff"));
        Assert.Equal((-1L, 1, 0), Call([], "unshare", "0x10000000")); // the filter
        // Without the filter the user namespace limit still refuses (max_user_namespaces); unshare(1)
        // because the probe, a .NET program, has threads.
        var nested = Husk("run", "--seccomp", "unconfined", "--", "unshare", "-U", "true");
        Assert.Equal((1, "unshare: unshare failed: No space left on device\n"), (nested.Code, nested.Stderr));
        Assert.Equal(0, Husk("run", "--allow-userns", "--", "unshare", "-U", "true").Code);
        // Husk inside Husk needs both: clone3 and nested user namespaces. The inner one reads the
        // host through --fs ro: the outer view is made of overlays, which the overlay mode does not stack.
        Assert.Equal(1, Husk("run", "--", TestEnvironment.Husk, "run", "--fs", "ro", "--", "/bin/true").Code);
        var nestedHusk = Husk("run", "--allow-userns", "--", TestEnvironment.Husk, "run", "--fs", "ro", "--", "/bin/true");
        Assert.True(nestedHusk.Code == 0, nestedHusk.Stderr);
    }

    [Fact]
    public void Capabilities_follow_bwraps_add_and_drop_in_order()
    {
        Assert.Equal("0000000000002020", Status(Probe("--cap-add", "net_raw", "--cap-add", "CAP_KILL"), "CapEff"));
        var all = Probe("--cap-add", "ALL", "--cap-drop", "cap_sys_admin");
        ulong mask = CapabilityNames.All & ~(1UL << 21);
        foreach (string set in new[] { "CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh" })
            Assert.Equal(mask.ToString("x16"), Status(all, set));
        Assert.Equal("0000000000000000", Status(Probe("--cap-add", "ALL", "--cap-drop", "ALL"), "CapEff"));
        Assert.Equal("1", Status(all, "NoNewPrivs"));
        var bad = Husk("run", "--cap-add", "CAP_FLY", "--", "true");
        Assert.Equal(2, bad.Code);
        Assert.Equal("husk run: --cap-add: unknown capability: CAP_FLY\n", bad.Stderr);
    }

    [Fact]
    public void Kept_network_and_admin_capabilities_act_on_the_sandboxs_own_namespaces()
    {
        var r = Husk("run", "--cap-add", "CAP_NET_ADMIN", "--cap-add", "CAP_SYS_ADMIN", "--",
            "/bin/sh", "-c", "ip link set lo down && ip -o link show lo | grep -c UP; hostname inside && hostname");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Equal("0\ninside\n", r.Stdout);
        Assert.NotEqual("inside", System.Net.Dns.GetHostName());
        // The network namespace is made once the sandbox runs: --info-fd never names the caller's instead.
        var info = TestEnvironment.Exec("/bin/sh", ["-c", $"{TestEnvironment.Husk} run --cap-add CAP_NET_ADMIN --info-fd 3 -- true 3>&1 >/dev/null"]);
        Assert.True(info.Code == 0, info.Stderr);
        string hostNet = global::Husk.Interop.Interop.NamespaceInode("net").ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("\"child-pid\"", info.Stdout);
        Assert.DoesNotContain($"\"net-namespace\": {hostNet}", info.Stdout);
    }

    [Fact]
    public void Allow_and_deny_syscall_edit_the_profile()
    {
        Assert.Equal((-1L, 3, 0), Call(["--deny-syscall", "getppid:ESRCH"], "getppid"));
        Assert.Equal((-1L, 1, 0), Call(["--deny-syscall", "getppid"], "getppid"));
        Assert.Equal((-1L, 13, 0), Call(["--deny-syscall", "getppid:13"], "getppid"));
        Assert.Equal((-1L, 1, 0), Call([], "personality", "0x40000"));
        Assert.Equal(0, Call(["--allow-syscall", "personality"], "personality", "0x40000").Errno);
        // unconfined: no filter, unless something is denied.
        Assert.Equal("0", Status(Probe("--seccomp", "unconfined"), "Seccomp"));
        Assert.Equal((-1L, 3, 0), Call(["--seccomp", "unconfined", "--deny-syscall", "getppid:ESRCH"], "getppid"));
        Assert.Equal(0, Call(["--seccomp", "unconfined", "--deny-syscall", "getppid:ESRCH"], "personality", "0x40000").Errno);
        var typo = Husk("run", "--deny-syscall", "getpid2", "--", "true");
        Assert.Equal((2, "husk run: --deny-syscall: unknown system call: getpid2\n"), (typo.Code, typo.Stderr));
        Assert.Equal(2, Husk("run", "--deny-syscall", "getpid:EWHAT", "--", "true").Code);
        Assert.Equal(2, Husk("run", "--seccomp", "maybe", "--", "true").Code);
    }

    [Fact]
    public void Judge_profile_kills_a_program_that_forks_and_runs_one_that_does_not()
    {
        var ok = Husk("run", "--seccomp-profile", "judge", "--", "/bin/true");
        Assert.Equal(0, ok.Code);
        Assert.DoesNotContain("verdict", ok.Stderr);
        // Without any limit the run is not supervised; the policy's kill is said all the same.
        var killed = Husk("run", "--profile", "judge", "--", "/bin/sh", "-c", "/bin/true; echo no");
        Assert.Equal(128 + 31, killed.Code);
        Assert.Contains("husk: verdict RestrictedFunction: killed by SIGSYS: a system call the policy forbids\n", killed.Stderr);
    }

    [Fact]
    public void Seccomp_profile_files_are_toml_and_their_errors_name_file_line_and_key()
    {
        string dir = TestEnvironment.ScratchDirectory("seccomp-toml");
        try
        {
            string file = Path.Combine(dir, "p.toml");
            File.WriteAllText(file, """
                # start from the default profile
                base = "default"
                deny = ["getppid:ESRCH"]

                [[rule]]
                syscalls = ["dup3"]
                action = "errno:EMFILE"
                args = [{ index = 1, op = "range", value = 100, high = 199, bits = 32 }]
                """);
            Assert.Equal((-1L, 3, 0), Call(["--seccomp-profile", file], "getppid"));
            Assert.Equal((-1L, 24, 0), Call(["--seccomp-profile", file], "dup3", "1", "150", "0"));
            Assert.Equal((50L, 0, 0), Call(["--seccomp-profile", file], "dup3", "1", "50", "0"));
            Assert.Equal((-1L, 1, 0), Call(["--seccomp-profile", file], "mount", "s:none", "s:/tmp", "s:tmpfs", "0", "0"));

            File.WriteAllText(file, "base = \"default\"\n\n[[rule]]\nsyscalls = [\"dup3\"]\naction = \"errno:EMFILE\"\nargs = [{ index = 9, op = \"eq\", value = 1 }]\n");
            var bad = Husk("run", "--seccomp-profile", file, "--", "true");
            Assert.Equal(2, bad.Code);
            Assert.Equal($"husk: profile {file}, line 6, key 'index': expected an argument index from 0 to 5\n", bad.Stderr);
            File.WriteAllText(file, "default-action = \"allow\"\nallow = [\"read\"]\ndenied = [\"write\"]\n");
            Assert.Equal($"husk: profile {file}, line 3, key 'denied': unknown key (expected base, default-action, foreign-action, allow, deny, rule)\n", Husk("run", "--seccomp-profile", file, "--", "true").Stderr);
            File.WriteAllText(file, "default-action = \"allow\"\ndeny = [\"getppid\"\n");
            var syntax = Husk("run", "--seccomp-profile", file, "--", "true");
            Assert.Equal(2, syntax.Code);
            Assert.StartsWith($"husk: profile: {file}(", syntax.Stderr);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Profiles_set_husk_run_options_include_others_and_name_file_line_and_key_in_errors()
    {
        string dir = TestEnvironment.ScratchDirectory("profiles");
        try
        {
            File.WriteAllText(Path.Combine(dir, "base.toml"), """
                description = "a base"
                [run]
                hostname = "from-base"
                setenv = [["FROM_BASE", "1"], ["OVERRIDDEN", "base"]]
                """);
            File.WriteAllText(Path.Combine(dir, "top.toml"), """
                include = ["base.toml"]
                [run]
                setenv = ["OVERRIDDEN", "top"]
                tmpfs = ["/data", "/cache"]
                share-net = true
                cap-add = "net_raw"
                [seccomp]
                base = "default"
                deny = ["getppid:ESRCH"]
                """);
            string top = Path.Combine(dir, "top.toml");
            var probe = Probe("--profile", top, "--setenv", "AFTER", "cli");
            Assert.Equal("from-base", probe.GetProperty("hostname").GetString());
            var env = probe.GetProperty("env");
            Assert.Equal(("1", "top", "cli"), (env.GetProperty("FROM_BASE").GetString(), env.GetProperty("OVERRIDDEN").GetString(), env.GetProperty("AFTER").GetString()));
            var mounts = probe.GetProperty("mounts").EnumerateArray().Select(m => m.GetProperty("target").GetString()).ToList();
            Assert.Contains("/data", mounts);
            Assert.Contains("/cache", mounts);
            Assert.Equal("0000000000002000", Status(probe, "CapEff"));
            Assert.Equal(JsonDocument.Parse(TestEnvironment.Exec(TestEnvironment.Probe, []).Stdout).RootElement.GetProperty("ns").GetProperty("net").GetString(), probe.GetProperty("ns").GetProperty("net").GetString());
            Assert.Equal((-1L, 3, 0), Call(["--profile", top], "getppid"));

            File.WriteAllText(Path.Combine(dir, "bad.toml"), "description = \"x\"\n[run]\nhostname = \"ok\"\n\ntmpfs = \"relative\"\n");
            var bad = Husk("run", "--profile", Path.Combine(dir, "bad.toml"), "--", "true");
            Assert.Equal((2, $"husk: profile {dir}/bad.toml, line 5, key 'tmpfs': destination must be an absolute path: relative\n"), (bad.Code, bad.Stderr));
            File.WriteAllText(Path.Combine(dir, "bad.toml"), "[run]\nunshare-pid = false\n");
            Assert.StartsWith($"husk: profile {dir}/bad.toml, line 2, key 'unshare-pid': a flag takes the value true", Husk("run", "--profile", Path.Combine(dir, "bad.toml"), "--", "true").Stderr);
            File.WriteAllText(Path.Combine(dir, "bad.toml"), "[run]\nfly = true\n");
            Assert.StartsWith($"husk: profile {dir}/bad.toml, line 2, key 'fly': not a husk run option", Husk("run", "--profile", Path.Combine(dir, "bad.toml"), "--", "true").Stderr);
            // ${NAME} must be set; ${NAME:-DEFAULT} falls back when it is unset or empty.
            File.WriteAllText(Path.Combine(dir, "vars.toml"), "[run]\nsetenv = [[\"A\", \"${HUSK_T_SET}\"], [\"B\", \"${HUSK_T_UNSET:-fallback}\"], [\"C\", \"${HUSK_T_EMPTY:-}x\"]]\n");
            var vars = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--profile", Path.Combine(dir, "vars.toml"), "--", "/bin/sh", "-c", "echo $A $B $C"],
                env: new Dictionary<string, string> { ["HUSK_T_SET"] = "given", ["HUSK_T_EMPTY"] = "" });
            Assert.Equal((0, "given fallback x\n"), (vars.Code, vars.Stdout));
            File.WriteAllText(Path.Combine(dir, "vars.toml"), "[run]\nhostname = \"${HUSK_T_UNSET}\"\n");
            Assert.StartsWith($"husk: profile {dir}/vars.toml, line 2, key 'hostname': ${{HUSK_T_UNSET}} is not set", Husk("run", "--profile", Path.Combine(dir, "vars.toml"), "--", "true").Stderr);
            File.WriteAllText(Path.Combine(dir, "loop.toml"), "include = [\"loop.toml\"]\n");
            Assert.Contains("includes itself", Husk("run", "--profile", Path.Combine(dir, "loop.toml"), "--", "true").Stderr);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Profile_list_and_show_cover_the_built_in_profiles()
    {
        var list = Husk("profile", "list");
        Assert.Equal(0, list.Code);
        foreach (string name in new[] { "default", "strict", "build", "judge" })
            Assert.Contains(list.Stdout.Split('\n'), l => l.StartsWith(name + " ", StringComparison.Ordinal));
        var show = Husk("profile", "show", "strict");
        Assert.Equal(0, show.Code);
        Assert.Contains("landlock = \"strict\"", show.Stdout);
        Assert.Equal(2, Husk("profile", "show", "nonexistent").Code);
        // Every built-in profile runs a program.
        foreach (string name in new[] { "default", "strict", "build", "judge" })
        {
            var r = Husk("run", "--profile", name, "--", "/bin/true");
            Assert.True(r.Code == 0, $"{name}: {r.Stderr}");
        }
    }

    [Fact]
    public void Landlock_modes_on_strict_and_off()
    {
        if (LandlockPolicy.KernelAbi < 4)
            Assert.Skip($"needs Landlock ABI 4, this kernel has {LandlockPolicy.KernelAbi}");
        const string script = "cp /bin/true /tmp/t && /tmp/t 2>/dev/null && echo exec || echo noexec";
        Assert.Equal("exec\n", Husk("run", "--", "/bin/sh", "-c", script).Stdout);
        Assert.Equal("noexec\n", Husk("run", "--landlock", "strict", "--", "/bin/sh", "-c", script).Stdout);
        Assert.Equal("exec\n", Husk("run", "--landlock", "strict", "--landlock", "off", "--", "/bin/sh", "-c", script).Stdout);
        if (File.Exists("/usr/bin/python3"))
        {
            const string bind = "import socket\nfor p in (7081, 7082):\n    try:\n        socket.socket().bind(('127.0.0.1', p)); print('bound', p)\n    except OSError as e: print('refused', p)\n";
            Assert.Equal("bound 7081\nbound 7082\n", Husk("run", "--", "/usr/bin/python3", "-c", bind).Stdout);
            Assert.Equal("refused 7081\nbound 7082\n", Husk("run", "--tcp-bind", "7082", "--", "/usr/bin/python3", "-c", bind).Stdout);
            Assert.Equal("refused 7081\nrefused 7082\n", Husk("run", "--landlock", "strict", "--", "/usr/bin/python3", "-c", bind).Stdout);
        }
        // Outside the writable mounts nothing is written, even where a mount would allow it: /proc/self/... is fine.
        Assert.Equal(0, Husk("run", "--", "/bin/sh", "-c", "echo 100 > /proc/self/oom_score_adj").Code);
    }
}
