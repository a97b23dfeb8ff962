using System.Runtime.InteropServices;
using System.Text.Json;
using Husk.Launch;

namespace Husk.Tests;

/// <summary>
/// Spec options that relax the engine's defaults for peers that do so (mkosi-sandbox binds without
/// nosuid, keeps the loopback down, shares its mounts...), each looked at from inside.
/// </summary>
public class SpecOptionTests
{
    private const int CapSysAdmin = 21;

    /// <summary>A root with /usr and the probe, no /proc of its own (the host's is bound).</summary>
    private static SandboxSpec Minimal(params MountOp[] extra) => TestEnvironment.Spec() with
    {
        Mounts =
        [
            new BindMount("/usr", "/usr") { ReadOnly = true },
            new MakeSymlink("usr/bin", "/bin"),
            new MakeSymlink("usr/lib", "/lib"),
            new MakeSymlink("usr/lib64", "/lib64"),
            new ProcMount("/proc"),
            new BindMount(TestEnvironment.Probe, TestEnvironment.Probe),
            .. extra,
        ],
    };

    private static JsonElement Mount(JsonElement probe, string target) =>
        probe.GetProperty("mounts").EnumerateArray().Last(m => m.GetProperty("target").GetString() == target);

    private static string[] Flags(JsonElement mount) => mount.GetProperty("options").GetString()!.Split(',');

    /// <summary>The host's per-mount flags of the mount holding path (a user namespace cannot clear them).</summary>
    private static string[] HostFlags(string path)
    {
        var host = JsonDocument.Parse(TestEnvironment.Exec(TestEnvironment.Probe, []).Stdout).RootElement;
        var best = host.GetProperty("mounts").EnumerateArray()
            .Where(m => path == m.GetProperty("target").GetString() || path.StartsWith(m.GetProperty("target").GetString()!.TrimEnd('/') + "/", StringComparison.Ordinal))
            .OrderBy(m => m.GetProperty("target").GetString()!.Length)
            .Last();
        return Flags(best);
    }

    [Fact]
    public void Null_capabilities_leave_the_exec_rules_alone()
    {
        var probe = TestEnvironment.RunProbe(Minimal() with { Identity = Identity.Root, Capabilities = null, NoNewPrivileges = false });
        ulong eff = Convert.ToUInt64(probe.GetProperty("status").GetProperty("CapEff").GetString(), 16);
        Assert.NotEqual(0UL, eff & (1UL << CapSysAdmin)); // root in its user namespace keeps its full set
        Assert.Equal("0", probe.GetProperty("status").GetProperty("NoNewPrivs").GetString());
    }

    [Fact]
    public void Binds_and_tmpfs_can_keep_setuid_and_devices()
    {
        string dir = Directory.CreateTempSubdirectory("husk-attrs").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);
            var probe = TestEnvironment.RunProbe(Minimal(
                new BindMount(dir, "/keep") { AllowSetuid = true, Devices = true },
                new BindMount(dir, "/default"),
                new TmpfsMount("/tkeep") { AllowSetuid = true, Devices = true },
                new TmpfsMount("/tdefault")));
            string[] host = HostFlags(dir);
            string[] keep = Flags(Mount(probe, "/keep"));
            Assert.Equal(host.Contains("nosuid"), keep.Contains("nosuid"));
            Assert.Equal(host.Contains("nodev"), keep.Contains("nodev"));
            Assert.Contains("nosuid", Flags(Mount(probe, "/default")));
            Assert.Contains("nodev", Flags(Mount(probe, "/default")));
            Assert.DoesNotContain("nosuid", Flags(Mount(probe, "/tkeep")));
            Assert.DoesNotContain("nodev", Flags(Mount(probe, "/tkeep")));
            Assert.Contains("nosuid", Flags(Mount(probe, "/tdefault")));
            Assert.Contains("nodev", Flags(Mount(probe, "/tdefault")));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Root_tmpfs_flags_and_mode_follow_the_spec()
    {
        var plain = Mount(TestEnvironment.RunProbe(Minimal()), "/");
        Assert.Contains("nosuid", Flags(plain));
        Assert.Contains("nodev", Flags(plain));
        Assert.Contains("mode=755", plain.GetProperty("super").GetString()!.Split(','));
        var relaxed = Mount(TestEnvironment.RunProbe(Minimal() with
        {
            RootTmpfs = new RootTmpfs { Mode = (UnixFileMode)(0x3FF), Devices = true, AllowSetuid = true },
        }), "/");
        Assert.DoesNotContain("nosuid", Flags(relaxed));
        Assert.DoesNotContain("nodev", Flags(relaxed));
        Assert.DoesNotContain(relaxed.GetProperty("super").GetString()!.Split(','), o => o.StartsWith("mode=", StringComparison.Ordinal));
    }

    [Fact]
    public void Any_filesystem_mounts_with_its_options()
    {
        var probe = TestEnvironment.RunProbe(Minimal(
            new FilesystemMount("devpts", "/pts") { Options = ["newinstance", "ptmxmode=0666", "mode=620"], AllowSetuid = true, Devices = true },
            new FilesystemMount("tmpfs", "/small") { Options = ["size=1m", "mode=0700"], NoExec = true, ReadOnly = true }));
        var pts = Mount(probe, "/pts");
        Assert.Equal("devpts", pts.GetProperty("fstype").GetString());
        Assert.Contains("ptmxmode=666", pts.GetProperty("super").GetString()!.Split(','));
        Assert.DoesNotContain("nosuid", Flags(pts));
        var small = Mount(probe, "/small");
        Assert.Contains("size=1024k", small.GetProperty("super").GetString()!.Split(','));
        Assert.Contains("mode=700", small.GetProperty("super").GetString()!.Split(','));
        Assert.Contains("noexec", Flags(small));
        Assert.Contains("ro", Flags(small));
        Assert.Contains("nosuid", Flags(small));
    }

    [Fact]
    public void Filesystem_options_that_look_like_paths_are_refused()
    {
        var spec = Minimal(new FilesystemMount("tmpfs", "/x") { Options = ["@lowerdir=/etc"] });
        var e = Assert.Throws<SandboxSpecException>(() => Launcher.Start(spec));
        Assert.Contains("not a plain key", e.Message);
    }

    [Fact]
    public void Symlinks_can_refuse_missing_parents_and_mount_over_files()
    {
        var noParents = Minimal(new MakeSymlink("x", "/no/such/dir/link") { CreateParents = false });
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(noParents with { Command = ["/bin/true"] }));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.IsType<MakeSymlink>(e.Origin);

        var (exit, output) = TestEnvironment.Run(Minimal(
            new WriteFile("/etc/file") { Data = [.. "old\n"u8] },
            new MakeSymlink("/etc/dangling-target", "/etc/link"),
            new MakeSymlink("new-target", "/etc/file") { Overmount = true },
            new MakeSymlink("other-target", "/etc/link") { Overmount = true },
            new MakeSymlink("new-target", "/etc/file") { Overmount = true }) with
        {
            Command = ["/bin/sh", "-c", "readlink /etc/file /etc/link; grep -c '^[^ ]* [^ ]* [^ ]* /symlink//deleted ' /proc/self/mountinfo"],
        });
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal(["new-target", "other-target", "2"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        var overDir = Minimal(new MakeDirectory("/etc/dir"), new MakeSymlink("x", "/etc/dir") { Overmount = true });
        e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(overDir with { Command = ["/bin/true"] }));
        Assert.Equal(Errno.EEXIST, e.Errno);
    }

    [Fact]
    public void A_file_bind_can_go_onto_a_symlink_itself()
    {
        string dir = Directory.CreateTempSubdirectory("husk-onto").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
            string file = Path.Combine(dir, "host");
            File.WriteAllText(file, "host\n");
            File.SetUnixFileMode(file, (UnixFileMode)0x1A4);
            MountOp[] setup = [new WriteFile("/target") { Data = [.. "target\n"u8] }, new MakeSymlink("/target", "/link")];
            string script = "cat /target /link";
            var (exit, onto) = TestEnvironment.Run(Minimal([.. setup, new BindMount(file, "/link") { OntoSymlink = true }]) with { Command = ["/bin/sh", "-c", script] });
            Assert.Equal(0, exit.ExitCode);
            Assert.Equal("target\nhost\n", onto);
            (exit, var through) = TestEnvironment.Run(Minimal([.. setup, new BindMount(file, "/link")]) with { Command = ["/bin/sh", "-c", script] });
            Assert.Equal(0, exit.ExitCode);
            Assert.Equal("host\nhost\n", through);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Overlay_upper_can_live_in_the_sandbox_with_extra_options()
    {
        string dir = Directory.CreateTempSubdirectory("husk-ovl").FullName;
        try
        {
            File.SetUnixFileMode(dir, (UnixFileMode)0x1ED);
            File.WriteAllText(Path.Combine(dir, "lower"), "lower\n");
            File.SetUnixFileMode(Path.Combine(dir, "lower"), (UnixFileMode)0x1A4);
            var spec = Minimal(
                new TmpfsMount("/o"),
                new MakeDirectory("/o/upper") { Mode = FileModes.SharedSticky },
                new MakeDirectory("/o/work"),
                new OverlayMount("/o", [dir])
                {
                    Kind = OverlayKind.Persistent,
                    Upper = "/o/upper",
                    Work = "/o/work",
                    UpperRoot = SourceRoot.Sandbox,
                    Options = ["userxattr", "index=off", "metacopy=off", "source=overlayfs"],
                });
            var (exit, output) = TestEnvironment.Run(spec with
            {
                Command = ["/bin/sh", "-c", "stat -c %a /o; cat /o/lower; echo new > /o/new && cat /o/new; grep -c ' /o ' /proc/self/mountinfo; grep -c ' /o .* overlay overlayfs ' /proc/self/mountinfo"],
            });
            Assert.Equal(0, exit.ExitCode);
            Assert.Equal(["1777", "lower", "new", "2", "1"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.False(File.Exists(Path.Combine(dir, "new")));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Loopback_can_stay_down()
    {
        const string bind = "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); socket.create_connection(s.getsockname()); print(\"bound\")' 2>/dev/null || echo refused";
        var (exit, down) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", bind) with { BringUpLoopback = false });
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("refused\n", down);
        (exit, var up) = TestEnvironment.Run(TestEnvironment.Spec("/bin/sh", "-c", bind));
        Assert.Equal(0, exit.ExitCode);
        Assert.Equal("bound\n", up);
    }

    [Fact]
    public void Mounts_can_be_shared_in_the_sandbox()
    {
        var shared = TestEnvironment.RunProbe(Minimal(new TmpfsMount("/t")) with { RootPropagation = MountPropagation.Shared });
        Assert.All(shared.GetProperty("mounts").EnumerateArray(), m => Assert.Equal("shared", m.GetProperty("propagation").GetString()));
        var plain = TestEnvironment.RunProbe(Minimal(new TmpfsMount("/t")));
        Assert.Equal("private", Mount(plain, "/t").GetProperty("propagation").GetString());
    }

    [Fact]
    public void Pid_variable_names_the_payloads_own_pid()
    {
        var probe = TestEnvironment.RunProbe(Minimal() with
        {
            Environment = ["LISTEN_PID=stale", "LISTEN_FDS=0"],
            PidVariable = "LISTEN_PID",
        });
        Assert.Equal(probe.GetProperty("pid").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture),
            probe.GetProperty("env").GetProperty("LISTEN_PID").GetString());
        var noPidNs = TestEnvironment.RunProbe(Minimal() with
        {
            Namespaces = NamespaceKinds.AllButTime & ~NamespaceKinds.Pid,
            PidVariable = "LISTEN_PID",
        });
        Assert.Equal(noPidNs.GetProperty("pid").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture),
            noPidNs.GetProperty("env").GetProperty("LISTEN_PID").GetString());
    }

    [Fact]
    public void Signals_can_start_ignored()
    {
        // Not the probe: a .NET program ignores SIGPIPE itself.
        static ulong Ignored(SandboxSpec spec)
        {
            var (exit, output) = TestEnvironment.Run(spec with { Command = ["/bin/sh", "-c", "exec grep SigIgn /proc/self/status"] });
            Assert.Equal(0, exit.ExitCode);
            return Convert.ToUInt64(output.Split(':')[1].Trim(), 16);
        }
        const ulong pipeAndXfsz = (1UL << 12) | (1UL << 24);
        Assert.Equal(pipeAndXfsz, Ignored(Minimal() with { IgnoredSignals = [(PosixSignal)13, (PosixSignal)25] }) & pipeAndXfsz);
        Assert.Equal(0UL, Ignored(Minimal()) & pipeAndXfsz);
        Assert.Throws<SandboxSpecException>(() => Launcher.Start(Minimal() with { IgnoredSignals = [(PosixSignal)9] }));
    }
}
