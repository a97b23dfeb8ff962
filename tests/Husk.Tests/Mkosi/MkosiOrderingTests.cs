using Husk.Cli.Personalities.Mkosi;

namespace Husk.Tests.Mkosi;

/// <summary>mkosi-sandbox's command line, path arithmetic and ordering model, without a kernel.</summary>
public class MkosiOrderingTests
{
    private static string[] Order(params string[] args) =>
        [.. FsOrdering.Optimize(MkosiArguments.Parse(args, "/cwd", null).Operations).Select(o => o.Describe())];

    [Fact]
    public void Parents_come_first_and_a_later_tmpfs_does_not_hide_a_deeper_bind()
    {
        Assert.Equal(
            ["tmpfs at /a", "bind /etc/hostname -> /a/b/h", "write 5 bytes to /a/w", "symlink /bin -> usr/bin", "bind /usr -> /usr [readonly]"],
            Order("--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--bind", "/etc/hostname", "/a/b/h", "--tmpfs", "/a", "--write", "hello", "/a/w"));
    }

    [Fact]
    public void A_bind_wins_over_other_operations_on_the_same_destination()
    {
        Assert.Equal(["tmpfs at /x", "bind /etc -> /x"], Order("--bind", "/etc", "/x", "--tmpfs", "/x"));
        // Other operations on one destination keep their command-line order.
        Assert.Equal(["write 1 bytes to /f", "symlink /f -> t", "bind /etc/hostname -> /f"],
            Order("--write", "x", "/f", "--bind", "/etc/hostname", "/f", "--symlink", "t", "/f"));
    }

    [Fact]
    public void Proc_is_not_a_bind_in_the_ordering_model()
    {
        // mkosi 25's ProcOperation: it keeps its command-line place on its destination (a later
        // tmpfs covers it, where a bind would win) and no bind makes it redundant.
        Assert.Equal(["proc at /x", "tmpfs at /x"], Order("--proc", "/x", "--tmpfs", "/x"));
        Assert.Equal(["tmpfs at /x", "proc at /x"], Order("--tmpfs", "/x", "--proc", "/x"));
        Assert.Equal(["bind / -> /", "proc at /proc"], Order("--bind", "/", "/", "--proc", "/proc"));
    }

    [Fact]
    public void Binds_from_inside_the_sandbox_go_last()
    {
        Assert.Equal(["bind /b -> /b2", "mkdir /z", "bind /a -> /a2 [relative]"],
            Order("--bind", "+/a", "/a2", "--dir", "/z", "--bind", "/b", "/b2"));
    }

    [Fact]
    public void Redundant_binds_are_dropped()
    {
        // /d/sub comes with /d already; /d/sub2 is another place, and read-only, so it stays.
        Assert.Equal(["bind /a -> /d", "bind /a/sub -> /d/sub2 [readonly]", "bind /a/sub -> /d/x"],
            Order("--bind", "/a", "/d", "--bind", "/a/sub", "/d/sub", "--ro-bind", "/a/sub", "/d/sub2", "--bind", "/a", "/d", "--bind", "/a/sub", "/d/x"));
        // Equal binds are equal whatever their source root: the first one given stays.
        Assert.Equal(["bind /a -> /b"], Order("--bind", "/a", "/b", "--bind", "+/a", "/b"));
        // Everything lies under a bind of /, relative to the same place.
        Assert.Equal(["bind / -> /"], Order("--bind", "/", "/", "--bind", "/usr", "/usr"));
    }

    [Fact]
    public void Paths_are_made_absolute_lexically_against_the_callers_directory()
    {
        var a = MkosiArguments.Parse(["--tmpfs", "rel", "--bind", "x/../y", "z", "--chdir", "..", "--overlay-upperdir", "tmpfs",
            "--overlay-lowerdir", "l", "--overlay", "o"], "/w/v", null);
        Assert.Equal(["/w/v/rel", "/w/v/z", "/w/v/o"], a.Operations.Select(o => o.Destination));
        Assert.Equal("/w/v/y", ((BindOperation)a.Operations[1]).Source);
        Assert.Equal("/w", a.Chdir);
        Assert.Equal("tmpfs", ((OverlayOperation)a.Operations[2]).Upper);
        Assert.Equal("/cwd", MkosiArguments.Parse(["--same-dir"], "/cwd", null).Chdir);
    }

    [Fact]
    public void Options_end_at_the_first_word_or_at_double_dash()
    {
        var a = MkosiArguments.Parse(["--tmpfs", "/t", "cmd", "--tmpfs", "x"], "/", null);
        Assert.Equal(["cmd", "--tmpfs", "x"], a.Command);
        Assert.Single(a.Operations);
        Assert.Equal(["--tmpfs"], MkosiArguments.Parse(["--", "--tmpfs"], "/", null).Command);
        Assert.Empty(MkosiArguments.Parse(["--tmpfs", "/t"], "/", null).Command);
        // An option's argument is taken as is, even when it looks like an option.
        Assert.Equal("/--help", MkosiArguments.Parse(["--tmpfs", "--help"], "/", null).Operations[0].Destination);
        Assert.True(MkosiArguments.Parse(["--tmpfs", "/t", "--help", "--bogus"], "/", null).Help);
    }

    [Theory]
    [InlineData("--frobnicate", "Unrecognized option --frobnicate")]
    [InlineData("-", "Unrecognized option -")]
    [InlineData("--exec", "Unrecognized option --exec")] // no prefixes of --exec-fd
    public void Unknown_options_are_refused(string option, string message)
    {
        var e = Assert.Throws<MkosiUsageException>(() => MkosiArguments.Parse([option, "true"], "/", null));
        Assert.Equal(message, e.Message);
    }

    [Fact]
    public void A_missing_argument_is_refused()
    {
        Assert.Equal("--setenv: missing argument", Assert.Throws<MkosiUsageException>(() => MkosiArguments.Parse(["--setenv", "A"], "/", null)).Message);
        Assert.Contains("invalid literal", Assert.Throws<MkosiUsageException>(() => MkosiArguments.Parse(["--map-delegate", "x"], "/", null)).Message);
    }

    [Fact]
    public void Overlay_settings_reset_after_each_overlay_and_print_top_layer_first()
    {
        Assert.Equal(["overlay at /o1 (lowers=[/b, /a], upper=tmpfs)", "overlay at /o2 (lowers=[/c], upper=-)"],
            Order("--overlay-lowerdir", "/a", "--overlay-lowerdir", "/b", "--overlay-upperdir", "tmpfs", "--overlay", "/o1",
                "--overlay-lowerdir", "/c", "--overlay", "/o2"));
    }

    [Fact]
    public void Describe_matches_mkosi_debug_output()
    {
        Assert.Equal("bind /a -> /b [readonly, optional, relative, nofollow]",
            new BindOperation("/a", "/b") { ReadOnly = true, Required = false, SourceInSandbox = true, NoFollow = true }.Describe());
        Assert.Equal(["bind /a -> /b [readonly, optional, relative]"], Order("--ro-bind-try", "+/a", "/b"));
        Assert.Equal(["write 7 bytes to /f"], Order("--write", "données", "/f")); // characters, as Python counts
        Assert.Equal("dev at /dev (tty=/dev/pts/1)", new DevOperation("/dev", "/dev/pts/1").Describe());
        Assert.Equal("bind /a -> /b [foreign]", new BindOperation("/a", "/b") { Foreign = true }.Describe());
    }

    [Theory]
    [InlineData("/tmp", 0x3FF)]
    [InlineData("/var/tmp", 0x3FF)]
    [InlineData("/build/root/tmp", 0x3FF)]
    [InlineData("/tmpx", 0x1ED)]
    [InlineData("/data", 0x1ED)]
    public void Tmp_directories_are_sticky_and_world_writable(string path, int mode)
    {
        var ctx = new ExpandContext(0x12, null);
        Assert.Equal((UnixFileMode)mode, Assert.IsType<TmpfsMount>(new TmpfsOperation(path).Expand(ctx).Single()).Mode);
        Assert.Equal((UnixFileMode)mode, Assert.IsType<MakeDirectory>(new DirOperation(path).Expand(ctx).Single()).Mode);
        var overlay = new OverlayOperation(["/l1", "/l2"], "tmpfs", "", path).Expand(ctx).ToList();
        Assert.Equal((UnixFileMode)mode, overlay.OfType<MakeDirectory>().First().Mode); // the upper layer gives the overlay its mode
        Assert.Equal(["/l1", "/l2"], overlay.OfType<OverlayMount>().Single().Lowers);
    }

    [Fact]
    public void Written_files_follow_the_umask()
    {
        Assert.Equal((UnixFileMode)0x1A0, Assert.IsType<WriteFile>(new WriteOperation("x", "/f").Expand(new ExpandContext(0x17, null)).Single()).Mode); // 0640
    }

    [Fact]
    public void Dev_is_mkosis_variant()
    {
        var ops = new DevOperation("/dev", "/dev/pts/3").Expand(new ExpandContext(0x12, null)).ToList();
        Assert.Contains(ops, o => o is MakeDirectory { Destination: "/dev/shm", Mode: (UnixFileMode)(0x3FF) });
        Assert.Contains(ops, o => o is BindMount { Source: "/dev/fuse", Optional: true });
        Assert.Contains(ops, o => o is BindMount { Source: "/dev/pts/3", Destination: "/dev/console" });
        var pts = Assert.Single(ops.OfType<FilesystemMount>());
        Assert.Equal(["newinstance", "ptmxmode=0666", "mode=620"], pts.Options);
        Assert.True(pts.AllowSetuid && pts.Devices && !pts.NoExec);
        Assert.All(ops.OfType<BindMount>(), b => Assert.True(b.Devices && b.AllowSetuid));
    }

    [Theory]
    [InlineData("//a/../b", "//b")]
    [InlineData("///a//b/", "/a/b")]
    [InlineData("/..", "/")]
    [InlineData("a/../..", "..")]
    [InlineData("", ".")]
    public void Normalize_is_posixpaths(string path, string expected) => Assert.Equal(expected, PythonPath.Normalize(path));

    [Fact]
    public void Path_relations_are_posixpaths()
    {
        Assert.True(PythonPath.IsRelativeTo("/a/b", "/a"));
        Assert.True(PythonPath.IsRelativeTo("/a", "/a"));
        Assert.True(PythonPath.IsRelativeTo("/a", "/"));
        Assert.False(PythonPath.IsRelativeTo("/ab", "/a"));
        Assert.Equal("b/c", PythonPath.Relative("/a/b/c", "/a"));
        Assert.Equal("../x", PythonPath.Relative("/a/x", "/a/b"));
        Assert.Equal(".", PythonPath.Relative("/a", "/a"));
        Assert.Equal("/a/x", PythonPath.Absolute("../x", "/a/b"));
    }

    [Fact]
    public void Sorting_compares_code_points_like_python()
    {
        // U+FF61 sorts before U+1F600 by code point, after it by UTF-16 code unit.
        Assert.True(PythonPath.CompareComponents(["\uFF61"], ["\U0001F600"]) < 0);
        Assert.True(PythonPath.CompareComponents(["a"], ["a", "b"]) < 0);
        Assert.True(PythonPath.CompareComponents(["a", "z"], ["b"]) < 0);
    }
}
