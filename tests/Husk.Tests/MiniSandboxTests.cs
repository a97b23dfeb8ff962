using Husk.Cli.Personalities.MiniSandbox;

namespace Husk.Tests;

/// <summary>
/// The mini-sandbox personality against mini-sandbox's sources at 68c2571 (which needs Bazel and
/// Go modules to build, absent here; its own CLI tests, run by hand from outside the repository,
/// are the oracle): its getopt command line, modes, checks, messages and exit statuses, and
/// sandboxes run through the hard link as an unprivileged user.
/// </summary>
public class MiniSandboxTests
{
    /// <summary>A made-up host: $HOME /home/u, the working directory /work/proj/src on the root filesystem.</summary>
    private sealed class FakeHost(string cwd = "/work/proj/src", string home = "/home/u", string mountPoint = "/") : MiniSandboxHost
    {
        public HashSet<string> Paths { get; } = ["/", "/etc", "/usr", "/bin", "/home", "/home/u", "/work", "/work/proj", "/work/proj/src", "/opt", "/var", "/srv", "/tmp", "/tmp/mini-sandbox-tmp", "/proc", "/dev", "/sys"];
        public override string Home => home;
        public override string WorkingDirectory => cwd;
        public override bool Exists(string path) => Paths.Contains(Path.GetFullPath(path, cwd));
        public override bool IsDirectory(string path) => Exists(path);
        public override bool IsFile(string path) => false;
        public override bool IsSymlink(string path) => false;
        public override string? Canonical(string path) => Exists(path) ? Path.GetFullPath(path, cwd) : null;
        public override string MountPointOf(string directory) => mountPoint;
        public override IEnumerable<string> RootDirectories() => ["/bin", "/dev", "/etc", "/home", "/opt", "/proc", "/srv", "/sys", "/tmp", "/usr", "/var", "/work"];
        public override bool CreateDirectories(string path) => Paths.Add(path);
        public override (uint Uid, uint Gid)? User(string name) => name == "nobody" ? (65534u, 65534u) : null;
        public override uint? Group(string name) => name == "tty" ? 5u : null;
    }

    private static MiniSandboxArguments Parse(params string[] args) => MiniSandboxArguments.Parse(args, tapbox: false, new FakeHost());

    private static string Usage(params string[] args) => Assert.Throws<MiniSandboxUsage>(() => Parse(args)).Message;

    private static string Error(params string[] args) => Assert.Throws<MiniSandboxError>(() => Parse(args)).Message;

    [Fact]
    public void Options_may_follow_operands_until_double_dash_and_the_bazel_leftovers_are_read_and_ignored()
    {
        var a = Parse("echo", "-H", "-S", "x", "hi", "-l", "y", "-m", "/z", "--", "-n", "more");
        Assert.True(a.FakeHostname);
        Assert.Equal(MiniSandboxNetwork.Loopback, a.Network);
        Assert.Equal(["echo", "hi", "-n", "more"], a.Command);
        Assert.Equal(MiniSandboxMode.ReadOnly, a.Mode);
        var clustered = Parse("-HRw/etc", "-T5", "-t", "2", "-i", "--", "x");
        Assert.True(clustered.FakeRoot);
        Assert.Equal(["/etc"], clustered.Writable);
        Assert.Equal((5, 2, true), (clustered.Timeout, clustered.KillDelay, clustered.SigintSendsSigterm));
    }

    [Fact]
    public void Argument_files_give_one_argument_a_line_before_double_dash_only()
    {
        string dir = TestEnvironment.ScratchDirectory("minisbx");
        try
        {
            string inner = Path.Combine(dir, "inner"), outer = Path.Combine(dir, "outer");
            File.WriteAllText(inner, "-H\n");
            File.WriteAllText(outer, $"-w\n/etc\n\n@{inner}\n");
            var a = Parse($"@{outer}", "--", "cmd", $"@{outer}");
            Assert.Equal(["/etc"], a.Writable);
            Assert.True(a.FakeHostname);
            Assert.Equal(["cmd", $"@{outer}"], a.Command);
            Assert.Equal($"[ExpandArgument:458]: OS Error: opening argument file failed: {dir}/none", Error($"@{dir}/none", "--", "x"));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Usage_errors_have_mini_sandboxs_words()
    {
        Assert.Equal("No command specified.", Usage("-H"));
        Assert.Equal("Unrecognized argument: -Z (2)", Usage("-Z", "--", "x"));
        Assert.Equal("Unrecognized argument: -Z (1)", Usage("-ZH", "--", "x"));
        Assert.Equal("Unrecognized argument: -F (2)", Usage("-F", "rules", "--", "x"));  // mini-tapbox's only
        Assert.Equal("Flag -w requires an argument", Usage("-w"));
        Assert.Equal("Only one of -n and -N may be specified.", Usage("-n", "-N", "--", "x"));
        Assert.Equal("The -U option cannot be used at the same time us the -R option.", Usage("-R", "-U", "--", "x"));
        Assert.Equal("The -W option must be used with absolute paths only.", Usage("-W", "rel", "--", "x"));
        Assert.Equal("Multiple working directories (-W) specified, expected one.", Usage("-W", "/a", "-W", "/b", "--", "x"));
        Assert.Equal("Invalid timeout (-T) value: soon", Usage("-T", "soon", "--", "x"));
        Assert.Equal("Invalid kill delay (-t) value: -1", Usage("-t", "-1", "--", "x"));
        Assert.Equal("Illegal configuration: overlayfs folder inside sandbox root.", Usage("-o", "/srv", "--", "x"));
        var tapbox = Assert.Throws<MiniSandboxUsage>(() => MiniSandboxArguments.Parse(["-N", "--", "x"], tapbox: true, new FakeHost()));
        Assert.Equal("Unrecognized argument: -N (2)", tapbox.Message);
    }

    [Fact]
    public void Mode_and_path_errors_end_the_run_with_function_and_line()
    {
        Assert.Equal("[MiniSbxSetupOverlayfsFolder:950]: Overlay option not enabled", Error("-d", "/srv", "-o", "/srv", "--", "x"));
        Assert.Equal("[MiniSbxMountOverlay:803]: Overlay option not enabled", Error("-k", "/etc", "--", "x"));
        Assert.Equal("[MiniSbxSetupDefault:862]: Only one between default, overlayfs and hermetic must be used", Error("-x", "-x", "--", "x"));
        Assert.Equal("[MiniSbxSetupSandboxRootWithOverlay:962]: Only one between default, overlayfs and hermetic must be used", Error("-x", "-o", "/srv", "--", "x"));
        Assert.Equal("[MiniSbxSetupHermetic:907]: Only one between default, overlayfs and hermetic must be used", Error("-o", "/srv", "-h", "/srv", "--", "x"));
        Assert.Equal("[CreateSandboxRoot:249]: Only one sandbox root directory is allowed", Error("-h", "/srv", "-h", "/opt", "--", "x"));
        Assert.Equal("[ValidatePath:146]: Must use absolute paths: rel", Error("-w", "rel", "--", "x"));
        Assert.Equal("[ValidateDirPath:168]: Path does not exist: /nope", Error("-e", "/nope", "--", "x"));
        Assert.Equal("[MiniSbxEnableLog:657]: Cannot write debug output to more than one file", Error("-D", "/srv/a", "-D", "/srv/b", "--", "x"));
        // A missing -w or -M path is dropped without a word; an existing relative one made absolute.
        var a = Parse("-w", "/nope", "-M", "/nada", "-w", "..", "--", "x");
        Assert.Equal(["..", "/work/proj"], a.Writable);
        Assert.Empty(a.Binds);
    }

    [Fact]
    public void The_checks_before_the_start_are_linux_sandboxs()
    {
        static string Check(FakeHost host, params string[] args) =>
            Assert.Throws<MiniSandboxError>(() => MiniSandboxPersonality.Validate(MiniSandboxArguments.Parse(args, false, host), host)).Message;
        Assert.StartsWith("[ValidateOptions:325]: Illegal configuration. Overlay folder", Check(new FakeHost(cwd: "/tmp"), "-x", "--", "x"));
        Assert.StartsWith("[ValidateOptions:330]: Illegal configuration.", Check(new FakeHost(), "-h", "/work/proj/src/root", "--", "x"));
        Assert.Equal("[ValidateOptions:334]: Illegal configuration. File mounted as read and write at the same time", Check(new FakeHost(), "-x", "-w", "/var", "--", "x"));
        Assert.Equal("[ValidateOptions:355]: /tmp cannot be remounted when running in default mode", Check(new FakeHost(), "-x", "-M", "/tmp", "--", "x"));
        var host = new FakeHost();
        MiniSandboxPersonality.Validate(MiniSandboxArguments.Parse(["-x", "-w", "/srv", "--", "x"], false, host), host);
    }

    [Theory]
    [InlineData("/work/proj/src", "/", "/home/u", "/work")]
    [InlineData("/work/proj/src", "/work", "/home/u", "/work/proj")]
    [InlineData("/work", "/work", "/home/u", null)]
    [InlineData("/home/u/code/app", "/", "/home/u", "/home/u/code")]
    [InlineData("/home/u", "/", "/home/u", null)]
    [InlineData("/work/x/cwd", "/", "/work/x/home", "/work/x")]
    public void The_working_directorys_tree_is_overlaid_from_its_top_level_directory(string cwd, string mountPoint, string home, string? expected) =>
        Assert.Equal(expected, MiniSandboxPersonality.WorkingTreeOverlay(cwd, mountPoint, home));

    [Fact]
    public void Default_mode_lays_out_linux_sandboxs_tree()
    {
        var host = new FakeHost();
        var spec = MiniSandboxPersonality.ToSpec(MiniSandboxArguments.Parse(["-x", "-k", "/etc", "-w", "/srv", "--", "make"], false, host), host);
        Assert.IsType<BareFileSystem>(spec.FileSystem);
        Assert.Equal(NamespaceKinds.User | NamespaceKinds.Mount | NamespaceKinds.Ipc | NamespaceKinds.Pid | NamespaceKinds.Net, spec.Namespaces);
        Assert.True(spec.BringUpLoopback);
        var binds = spec.Mounts.OfType<BindMount>().ToDictionary(b => b.Destination);
        Assert.Equal(("/tmp/mini-sandbox-tmp", false), (binds["/tmp"].Source, binds["/tmp"].ReadOnly));
        foreach (string ro in new[] { "/bin", "/usr", "/var", "/opt", "/sys" })
            Assert.True(binds[ro].ReadOnly, ro);
        // $HOME's parent and the working directory's are not shown from the host; /etc and /work are overlaid.
        Assert.False(binds.ContainsKey("/home") || binds.ContainsKey("/work") || binds.ContainsKey("/etc") || binds.ContainsKey("/dev"));
        Assert.Equal(["/etc", "/work"], spec.Mounts.OfType<OverlayMount>().Select(o => o.Destination).Order(StringComparer.Ordinal));
        Assert.All(spec.Mounts.OfType<OverlayMount>(), o => Assert.Equal(OverlayKind.Temporary, o.Kind));
        Assert.Contains(spec.Mounts, m => m is MakeDirectory { Destination: "/home/u" });
        Assert.Contains(spec.Mounts, m => m is ProcMount { Destination: "/proc" });
        Assert.False(binds["/srv"].ReadOnly);
        Assert.Equal(new BindMount("/work/proj/src", "/work/proj/src"), spec.Mounts[^1]);
        Assert.Equal("/work/proj/src", spec.WorkingDirectory);
        Assert.Contains(MiniSandboxPersonality.NestedVariable + "=1", spec.Environment);
        Assert.Equal((SeccompSpec.None, LandlockSpec.Off, (CapabilitySet?)null, false), (spec.Seccomp, spec.Landlock, spec.Capabilities, spec.NoNewPrivileges));
    }

    [Fact]
    public void Without_a_mode_the_host_is_read_only_but_tmp_and_the_working_directory()
    {
        var host = new FakeHost();
        var spec = MiniSandboxPersonality.ToSpec(MiniSandboxArguments.Parse(["-N", "-H", "-U", "-e", "/srv", "--", "x"], false, host), host);
        Assert.Equal(new HostFileSystem(ReadOnly: true), spec.FileSystem);
        Assert.Equal(NamespaceKinds.User | NamespaceKinds.Mount | NamespaceKinds.Ipc | NamespaceKinds.Pid | NamespaceKinds.Uts, spec.Namespaces);
        Assert.Equal("localhost", spec.Hostname);
        Assert.Equal(new Identity { Uid = 65534, Gid = 65534 }, spec.Identity);
        Assert.Contains(new BindMount("/tmp", "/tmp"), spec.Mounts);
        Assert.Contains(new TmpfsMount("/srv"), spec.Mounts);
        Assert.Equal(new BindMount("/work/proj/src", "/work/proj/src"), spec.Mounts[^1]);
        var isolated = MiniSandboxPersonality.ToSpec(MiniSandboxArguments.Parse(["-n", "-R", "-P", "--", "x"], false, host), host);
        Assert.False(isolated.BringUpLoopback);
        Assert.Equal(new Identity { Uid = 0, Gid = 5 }, isolated.Identity);
    }

    [Theory]
    [InlineData("10.0.0.1", "ipv4")]
    [InlineData("www.example.com", "domain")]
    [InlineData("localhost", "domain")]
    [InlineData("10.0.0.0/8", "subnet")]
    [InlineData("*.example.com", null)]
    [InlineData("", null)]
    public void Tapbox_rules_are_told_apart_as_mini_tapbox_does(string line, string? kind) =>
        Assert.Equal(kind, MiniSandboxArguments.RuleKind(line));

    private static string MiniSandbox => Path.Combine(TestEnvironment.Artifacts, "bin", "mini-sandbox");

    /// <summary>Runs the hard link from <paramref name="cwd"/> with $HOME <paramref name="home"/>.</summary>
    private static (int Code, string Stdout, string Stderr) Run(string cwd, string home, params string[] args) =>
        TestEnvironment.Exec(MiniSandbox, args, env: new Dictionary<string, string> { ["HOME"] = home }, cwd: cwd);

    [Fact]
    public void Default_mode_writes_vanish_above_the_working_directory_and_go_through_in_it()
    {
        string dir = TestEnvironment.ScratchDirectory("minisbx");
        try
        {
            string home = Path.Combine(dir, "home"), work = Path.Combine(dir, "top", "work");
            Directory.CreateDirectory(home);
            Directory.CreateDirectory(work);
            var r = Run(work, home, "-x", "--", "/bin/sh", "-c",
                "echo a > ../above && cat ../above; echo b > here; touch /opt/x 2>/dev/null || echo opt-ro; cat /proc/net/dev | grep -c ':'; exit 7");
            Assert.True(r.Code == 7, r.Stderr + r.Stdout);
            Assert.Equal(["a", "opt-ro", "1"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.False(File.Exists(Path.Combine(dir, "top", "above")));   // overlaid: the write vanished
            Assert.Equal("b\n", File.ReadAllText(Path.Combine(work, "here")));   // the working directory: written through
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Custom_mode_shows_only_what_is_named_and_usage_errors_exit_1()
    {
        string dir = TestEnvironment.ScratchDirectory("minisbx");
        try
        {
            string root = Path.Combine(dir, "root"), work = Path.Combine(dir, "work");
            Directory.CreateDirectory(work);
            var r = Run(work, dir, "-o", root, "-d", root, "-k", "/etc", "-M", "/usr", "-M", "/bin", "-M", "/lib", "-M", "/lib64", "--", "/bin/sh", "-c", "ls /; touch /etc/new && echo etc-rw");
            Assert.True(r.Code == 0, r.Stderr + r.Stdout);
            string top = work.Split('/')[1];
            string[] named = Directory.Exists("/lib64") ? ["bin", "dev", "etc", "lib", "lib64", "tmp", "usr", top] : ["bin", "dev", "etc", "lib", "tmp", "usr", top];
            Assert.Equal(named.Distinct().Order(StringComparer.Ordinal),
                r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l != "etc-rw").Order(StringComparer.Ordinal));
            Assert.Contains("etc-rw", r.Stdout);
            Assert.False(File.Exists("/etc/new"));
            var usage = Run(work, dir, "-Q", "--", "true");
            Assert.Equal(1, usage.Code);
            Assert.StartsWith($"Unrecognized argument: -Q (2)\nUsage: {MiniSandbox} -- command arg1 @args\n", usage.Stderr);
            var timeout = Run(work, dir, "-T", "1", "--", "/bin/sleep", "30");
            Assert.Equal(137, timeout.Code);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }
}
