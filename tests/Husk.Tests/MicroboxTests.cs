using System.Text.Json;
using System.Text.RegularExpressions;
using Husk.Cli.Personalities.Microbox;
using Husk.Policy;

namespace Husk.Tests;

/// <summary>
/// The microbox personality against microbox's sources at 88930be (which cannot be built here: it
/// needs Go 1.24 and modules, this machine has Go 1.19 and no module proxy): its flags, defaults,
/// checks, messages and exit statuses, and sandboxes run through the hard link as an unprivileged user.
/// </summary>
public class MicroboxTests
{
    private static MicroboxArguments Parse(params string[] args) => MicroboxArguments.Parse(args);

    private static string Refused(params string[] args) => Assert.Throws<MicroboxUsage>(() => Parse(args)).Message;

    [Fact]
    public void Defaults_are_microboxs()
    {
        var a = Parse("--", "/bin/true");
        Assert.Equal(MicroboxFs.Tmpfs, a.Fs);
        Assert.Equal("none", a.Net);
        Assert.Equal(512L << 20, a.Storage);
        Assert.Equal(1L << 30, a.Memory);
        Assert.Equal(1.0, a.Cpus);
        Assert.False(a.ReadOnly);
        Assert.False(a.HostUserNamespace);
        Assert.Equal(Logging.LogLevel.Error, a.LogLevel);
        Assert.False(a.LogJson);
        Assert.False(a.HostnameGiven);
        Assert.Equal(["/bin/true"], a.Command);
    }

    [Fact]
    public void Every_flag_is_read_with_one_or_two_dashes_an_equals_sign_or_the_next_word()
    {
        var a = Parse("--fs=host", "-net", "host", "--readonly", "--env", "A=1,B=2", "--env=C=3", "--allow-syscall", "ptrace",
            "--deny-syscall", "chmod", "--hostname", "box", "--cpus", "0.5", "--memory", "256MB", "--storage", "2GB",
            "--log-level", "info", "--log-format", "json", "--cap-add", "net_admin", "--cap-drop", "CAP_CHOWN", "--userns", "host", "--", "/x", "--y");
        Assert.Equal(MicroboxFs.Host, a.Fs);
        Assert.Equal("host", a.Net);
        Assert.True(a.ReadOnly);
        Assert.Equal([("A", "1"), ("B", "2"), ("C", "3")], a.Env);
        Assert.Equal(["ptrace"], a.AllowSyscalls);
        Assert.Equal(["chmod"], a.DenySyscalls);
        Assert.Equal("box", a.Hostname);
        Assert.Equal(0.5, a.Cpus);
        Assert.Equal(256L << 20, a.Memory);
        Assert.Equal(2L << 30, a.Storage);
        Assert.Equal(Logging.LogLevel.Info, a.LogLevel);
        Assert.True(a.LogJson);
        Assert.Equal([12], a.CapAdd);  // CAP_NET_ADMIN
        Assert.Equal([0], a.CapDrop);  // CAP_CHOWN
        Assert.True(a.HostUserNamespace);
        Assert.Equal(["/x", "--y"], a.Command);
    }

    [Fact]
    public void Flags_after_an_argument_are_still_flags_until_the_double_dash()
    {
        var a = Parse("/bin/ls", "--readonly", "--", "-l");
        Assert.True(a.ReadOnly);
        Assert.Equal(["/bin/ls", "-l"], a.Command);
        Assert.Equal("flag provided but not defined: -l", Refused("/bin/ls", "-l"));
    }

    [Fact]
    public void Mounts_keep_their_order_and_split_at_commas()
    {
        var a = Parse("--mount-ro", "/a:/b,/c:/d", "--mount-rw", "/e:/f", "--", "x");
        Assert.Equal([("/a", "/b"), ("/c", "/d")], a.MountRo);
        Assert.Equal([("/e", "/f")], a.MountRw);
    }

    [Fact]
    public void Bad_values_are_refused_in_microboxs_words()
    {
        Assert.Equal("bad --net \"wifi\" (none|host|bridge)", Refused("--net", "wifi", "--", "x"));
        Assert.Equal("bad mount \"/a\" (HOST:DEST)", Refused("--mount-ro", "/a", "--", "x"));
        Assert.Equal("DEST must be absolute: \"/a:b\"", Refused("--mount-rw", "/a:b", "--", "x"));
        Assert.Equal("bad --env \"NOVALUE\" (KEY=VALUE)", Refused("--env", "NOVALUE", "--", "x"));
        Assert.Equal("bad --env \"=1\" (KEY=VALUE)", Refused("--env", "=1", "--", "x"));
        Assert.Equal("unknown user namespace mode: \"shared\"", Refused("--userns", "shared", "--", "x"));
        Assert.Equal("unknown log level: \"loud\"", Refused("--log-level", "loud", "--", "x"));
        Assert.Equal("unknown log format: \"xml\"", Refused("--log-format", "xml", "--", "x"));
        Assert.Equal("bad --fs \"/no/such/dir\": lstat /no/such/dir: no such file or directory", Refused("--fs", "/no/such/dir", "--", "x"));
        Assert.Equal("bad --fs \"/etc/hostname\": not a directory", Refused("--fs", "/etc/hostname", "--", "x"));
        Assert.Equal("--fs host conflicts with --mount-* (requires private mount ns)", Refused("--fs", "host", "--mount-ro", "/a:/b", "--", "x"));
        Assert.Equal("bad --cap-add: unknown capability: \"fly\"", Refused("--cap-add", "CAP_FLY", "--", "x"));
        Assert.Equal("bad --memory \"lots\": invalid size", Refused("--memory", "lots", "--", "x"));
        var flag = Assert.Throws<MicroboxUsage>(() => Parse("--bogus", "--", "x"));
        Assert.True(flag.IncorrectUsage);
        Assert.Equal("flag provided but not defined: -bogus", flag.Message);
        Assert.Equal("flag needs an argument: --fs", Refused("--fs"));
        Assert.Equal("invalid value \"abc\" for flag -cpus: strconv.ParseFloat: parsing \"abc\": invalid syntax", Refused("--cpus", "abc", "--", "x"));
        // Checked in microbox's order: the memory before the network.
        Assert.StartsWith("bad --memory", Refused("--net", "wifi", "--memory", "lots", "--", "x"));
    }

    [Fact]
    public void Zero_memory_and_cpus_mean_no_limit()
    {
        var spec = MicroboxPersonality.ToSpec(Parse("--memory", "0", "--cpus", "0", "--", "/x"));
        Assert.Null(spec.Limits.MemoryBytes);
        Assert.Null(spec.Limits.Cpus);
    }

    [Fact]
    public void The_environment_is_microboxs_with_env_over_it_and_the_rest_sorted()
    {
        var env = MicroboxPersonality.Environment(Parse("--env", "ZED=1", "--env", "HOME=/home/x", "--env", "ALPHA=2", "--", "x"));
        Assert.Equal(["PATH=/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin", "HOME=/home/x", "TERM=xterm", "LANG=C.UTF-8", "ALPHA=2", "ZED=1"], env);
    }

    [Fact]
    public void The_deny_list_is_edited_by_allow_and_deny_and_answers_enosys()
    {
        var spec = MicroboxPersonality.ToSpec(Parse("--allow-syscall", "ptrace", "--deny-syscall", "chmod", "--", "x"));
        var policy = spec.Seccomp.Profile!;
        Assert.Equal(SeccompAction.Allow, policy.DefaultAction);
        Assert.Equal(SeccompAction.Fail(Errno.ENOSYS), policy.Decide("mount"));
        Assert.Equal(SeccompAction.Fail(Errno.ENOSYS), policy.Decide("unshare"));
        Assert.Equal(SeccompAction.Fail(Errno.ENOSYS), policy.Decide("chmod"));
        Assert.Equal(SeccompAction.Allow, policy.Decide("ptrace"));
        Assert.Equal(SeccompAction.Allow, policy.Decide("read"));
        Assert.Equal(NestedUserNamespaces.ProfileOnly, spec.NestedUserNamespaces);
    }

    [Fact]
    public void Capabilities_are_microboxs_set_with_drops_before_adds()
    {
        ulong set = MicroboxPersonality.Capabilities(Parse("--cap-drop", "chown", "--cap-add", "sys_admin", "--cap-drop", "sys_admin", "--", "x"));
        Assert.Equal(0UL, set & 1UL);                 // CAP_CHOWN dropped
        Assert.NotEqual(0UL, set & (1UL << 21));      // CAP_SYS_ADMIN: added after the drops
        Assert.NotEqual(0UL, set & (1UL << 5));       // CAP_KILL kept
        Assert.Equal(0UL, set & (1UL << 12));         // CAP_NET_ADMIN never in the default set
        var spec = MicroboxPersonality.ToSpec(Parse("--", "x"));
        Assert.Equal(15UL, ulong.PopCount(spec.Capabilities!.Bounding));
        Assert.Equal(0UL, spec.Capabilities.Ambient);
    }

    [Fact]
    public void The_sandbox_is_microboxs()
    {
        var spec = MicroboxPersonality.ToSpec(Parse("--mount-rw", "/srv:/data", "--mount-ro", "/usr:/usr", "--readonly", "--hostname", "box", "--", "/usr/bin/env"));
        Assert.Equal(NamespaceKinds.AllButTime | NamespaceKinds.Time, spec.Namespaces);
        Assert.True(spec.AsPid1);
        Assert.False(spec.SearchPath);
        Assert.False(spec.BringUpLoopback);
        Assert.Equal("/", spec.WorkingDirectory);
        Assert.Equal(Identity.Root, spec.Identity);
        Assert.Equal("box", spec.Hostname);
        var fs = Assert.IsType<EmptyFileSystem>(spec.FileSystem);
        Assert.Equal(512L << 20, fs.Size);
        var binds = spec.Mounts.OfType<BindMount>().Where(b => b.Source != "/etc/hosts").ToList();
        Assert.Equal(["/usr", "/srv"], binds.Select(b => b.Source));  // read-only first, as microbox mounts them
        Assert.True(binds[0].ReadOnly);
        Assert.False(binds[1].ReadOnly);
        Assert.IsType<RemountReadOnly>(spec.Mounts[^1]);
        Assert.Equal("nameserver 8.8.8.8\nnameserver 8.8.4.4\n", global::System.Text.Encoding.UTF8.GetString(spec.Mounts.OfType<WriteFile>().Single(w => w.Destination == "/etc/resolv.conf").Data.AsSpan()));
        Assert.Equal("box\n", global::System.Text.Encoding.UTF8.GetString(spec.Mounts.OfType<WriteFile>().Single(w => w.Destination == "/etc/hostname").Data.AsSpan()));
        Assert.Equal(1L << 30, spec.Limits.MemoryBytes);
        Assert.Equal(1.0, spec.Limits.Cpus);
        Assert.True(spec.Limits.CpusIfAvailable);
        var dir = Assert.IsType<DirectoryFileSystem>(MicroboxPersonality.ToSpec(Parse("--fs", "/usr", "--storage", "64MB", "--", "x")).FileSystem);
        Assert.Equal(("/usr", false, 64L << 20), (dir.Path, dir.ReadOnly, dir.Size));
        var host = MicroboxPersonality.ToSpec(Parse("--fs", "host", "--net", "host", "--userns", "host", "--", "x"));
        Assert.Equal(FileSystemSpec.Host(), host.FileSystem);
        Assert.Empty(host.Mounts);
        Assert.Equal(NamespaceKinds.Mount | NamespaceKinds.Pid | NamespaceKinds.Uts | NamespaceKinds.Ipc | NamespaceKinds.Cgroup | NamespaceKinds.Time, host.Namespaces);
    }

    [Fact]
    public void What_this_build_cannot_do_is_one_line()
    {
        Assert.Null(MicroboxPersonality.Refusal(Parse("--", "x")));
        Assert.Contains("--dns", MicroboxPersonality.Refusal(Parse("--dns", "1.1.1.1", "--", "x")));
        Assert.NotNull(MicroboxPersonality.Refusal(Parse("--net", "bridge", "--", "x")));
    }

    // ---- through the hard link ----

    private static string Microbox => Path.Combine(TestEnvironment.Artifacts, "bin", "microbox");

    /// <summary>The host's programs in the empty root, read-only.</summary>
    private static readonly string[] HostSystem =
        [.. new[] { "/usr", "/bin", "/lib", "/lib64", "/sbin" }.Where(Directory.Exists).SelectMany(d => new[] { "--mount-ro", $"{d}:{d}" })];

    private static (int Code, string Stdout, string Stderr) Run(params string[] args) => TestEnvironment.Exec(Microbox, args);

    [Fact]
    public void Help_and_version_go_to_stdout()
    {
        var help = Run("--help");
        Assert.Equal(0, help.Code);
        Assert.StartsWith("NAME:\n   microbox - Lightweight sandboxes for Linux.\n\nUSAGE:\n   microbox [global options]\n\nVERSION:\n   0.2.0\n", help.Stdout);
        Assert.Matches(new Regex(@"--hostname string +Sets the hostname of the sandbox \(default: ""[a-z]+-[a-z]+""\)"), help.Stdout);
        Assert.Contains("--version, -v", help.Stdout);
        Assert.Equal("", help.Stderr);
        Assert.Equal((0, "microbox version 0.2.0\n"), (Run("-v").Code, Run("-v").Stdout));
    }

    [Fact]
    public void Usage_errors_print_the_help_then_one_line_and_exit_1()
    {
        var missing = Run("--readonly");
        Assert.Equal(1, missing.Code);
        Assert.StartsWith("NAME:", missing.Stdout);
        Assert.Equal("parsing error: missing command; usage: microbox [options] -- command [args...]\n", missing.Stderr);
        var bogus = Run("--bogus", "--", "x");
        Assert.Equal(1, bogus.Code);
        Assert.Equal("Incorrect Usage: flag provided but not defined: -bogus\n\nparsing error: flag provided but not defined: -bogus\n", bogus.Stderr);
        Assert.Equal(2, Regex.Matches(bogus.Stdout, "^NAME:", RegexOptions.Multiline).Count); // urfave/cli's and microbox's own
    }

    [Fact]
    public void A_sandbox_runs_without_root_as_microbox_makes_it()
    {
        var r = Run([.. HostSystem, "--env", "FOO=bar", "--", "/bin/sh", "-c",
            "echo pid=$$; cat /etc/hostname; hostname; id -u; env | sort; ls /; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; cat /etc/resolv.conf; unshare -U true 2>&1; cat /sys/class/net/lo/operstate 2>/dev/null || ip -o link show lo"]);
        Assert.True(r.Code == 0, r.Stderr + r.Stdout);
        string[] lines = r.Stdout.Split('\n');
        Assert.Equal("pid=1", lines[0]);
        Assert.Matches("^[a-z]+-[a-z]+$", lines[1]);
        Assert.Equal(lines[1], lines[2]);
        Assert.Equal("0", lines[3]);
        Assert.Contains("FOO=bar", lines);
        Assert.Contains("HOME=/root", lines);
        Assert.Contains("LANG=C.UTF-8", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("USER=", StringComparison.Ordinal) || l.StartsWith("HUSK", StringComparison.Ordinal));
        foreach (string entry in new[] { "dev", "etc", "proc", "tmp", "usr" })
            Assert.Contains(entry, lines);
        Assert.Contains("NoNewPrivs:\t1", lines);
        Assert.Contains("Seccomp:\t2", lines);
        Assert.Contains(lines, l => l == $"CapEff:\t{MicroboxPersonality.Capabilities(Parse("--", "x")):x16}");
        Assert.Contains("nameserver 8.8.8.8", lines);
        Assert.Contains(lines, l => l.Contains("Function not implemented", StringComparison.Ordinal));  // unshare: ENOSYS
        Assert.Contains(lines, l => l is "down" || l.Contains("state DOWN", StringComparison.Ordinal));
    }

    [Fact]
    public void The_command_is_executed_as_given_without_a_path_search()
    {
        var r = Run([.. HostSystem, "--", "sh", "-c", "true"]);
        Assert.Equal(127, r.Code);
        Assert.Matches(new Regex(@"^time=\S+ level=ERROR msg=""failed to execute process"" pid=\d+ sandbox=[0-9a-f-]{36} err=""no such file or directory""\n$"), r.Stdout);
        Assert.Equal(5, Run([.. HostSystem, "--", "/bin/sh", "-c", "exit 5"]).Code);
    }

    [Fact]
    public void Storage_caps_the_root_and_readonly_makes_it_read_only()
    {
        var full = Run([.. HostSystem, "--storage", "2MB", "--", "/bin/sh", "-c", "dd if=/dev/zero of=/big bs=1M count=8 2>&1; echo status=$?"]);
        Assert.Contains("No space left on device", full.Stdout);
        var ro = Run([.. HostSystem, "--readonly", "--", "/bin/sh", "-c", "touch /x 2>&1; echo status=$?; cat /etc/hostname >/dev/null && echo etc"]);
        Assert.Contains("Read-only file system", ro.Stdout);
        Assert.Contains("etc", ro.Stdout);
    }

    [Fact]
    public void Mount_rw_writes_through_and_a_root_directory_keeps_its_files()
    {
        string dir = TestEnvironment.ScratchDirectory("microbox");
        try
        {
            string rootfs = Path.Combine(dir, "rootfs"), data = Path.Combine(dir, "data");
            Directory.CreateDirectory(rootfs);
            Directory.CreateDirectory(data);
            File.WriteAllText(Path.Combine(rootfs, "kept"), "original\n");
            var r = Run([.. HostSystem, "--fs", rootfs, "--mount-rw", $"{data}:/data", "--", "/bin/sh", "-c", "cat /kept; echo new > /kept; echo out > /data/out; cat /etc/hostname >/dev/null && echo etc"]);
            Assert.True(r.Code == 0, r.Stdout + r.Stderr);
            Assert.Contains("original", r.Stdout);
            Assert.Equal("original\n", File.ReadAllText(Path.Combine(rootfs, "kept")));   // overlaid: the write vanished
            Assert.False(File.Exists(Path.Combine(rootfs, "etc", "hostname")));
            Assert.Equal("out\n", File.ReadAllText(Path.Combine(data, "out")));           // bound: the write went through
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Memory_is_limited_with_the_best_backend_and_json_logs_go_to_stdout()
    {
        string probeDir = Path.GetDirectoryName(TestEnvironment.Probe)!;
        var r = Run([.. HostSystem, "--mount-ro", $"{probeDir}:{probeDir}", "--memory", "48MB", "--log-level", "info", "--log-format", "json", "--", TestEnvironment.Probe, "judge", "touch", "160"]);
        Assert.Equal(137, r.Code);
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal("Options", lines[0].GetProperty("msg").GetString());
        Assert.All(lines, l => Assert.Equal(lines[0].GetProperty("sandbox").GetString(), l.GetProperty("sandbox").GetString()));
        Assert.Contains(lines, l => l.GetProperty("msg").GetString() == "limits");
        Assert.Contains(lines, l => l.GetProperty("msg").GetString() == "exited" && l.GetProperty("verdict").GetString() == "MemoryLimit");
    }

    [Fact]
    public void Host_user_namespace_needs_root_and_says_so()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("as root --userns host runs");
        var r = Run("--userns", "host", "--", "/bin/true");
        Assert.Equal(1, r.Code);
        Assert.Matches(new Regex(@"level=ERROR msg=""error while creating sandbox"" .* err=""microbox must be run as root or with sudo""\n$"), r.Stdout);
    }

    [Fact]
    [Trait("Category", "Root")]
    public void As_root_the_limits_use_a_cgroup_and_userns_host_is_the_hosts_root_Root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var r = Run([.. HostSystem, "--log-level", "warn", "--", "/bin/sh", "-c", "cat /proc/self/uid_map"]);
        Assert.Equal(0, r.Code);
        Assert.DoesNotContain("CPU bandwidth", r.Stdout);                 // enforced: no warning that it is not
        Assert.DoesNotMatch(new Regex(@"^\s*0\s+0\s"), r.Stdout.Split('\n').Last(l => l.Length > 0));  // never the host's uid 0
        var host = Run([.. HostSystem, "--userns", "host", "--", "/bin/sh", "-c", "cat /proc/self/uid_map"]);
        Assert.Equal(0, host.Code);
        Assert.Matches(new Regex(@"^\s*0\s+0\s+4294967295\s*$"), host.Stdout);
    }
}
