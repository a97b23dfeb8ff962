using System.Formats.Tar;
using Husk.Images;
using static Husk.Tests.Images.TestImage;

namespace Husk.Tests.Images;

/// <summary>
/// The tar applier on its own: whiteouts and opaque directories in overlayfs's form, and hostile
/// entries that try to write outside the layer, each refused or contained.
/// </summary>
public sealed class LayerApplierTests : IDisposable
{
    private readonly string _scratch = TestEnvironment.ScratchDirectory("applier");
    private readonly string _layer;
    private readonly string _outside;

    public LayerApplierTests()
    {
        _layer = Path.Combine(_scratch, "layer");
        _outside = Path.Combine(_scratch, "outside");
        Directory.CreateDirectory(_layer);
        Directory.CreateDirectory(_outside);
        File.WriteAllText(Path.Combine(_outside, "victim"), "untouched\n");
    }

    public void Dispose() => TestEnvironment.DeleteTree(_scratch);

    private LayerStats Apply(params TarEntry[] entries) =>
        LayerApplier.Apply(new MemoryStream(Layer(entries)), _layer, "oci:test", "layer 1 (test)", keepOwners: TestEnvironment.IsRoot);

    private ImageException Refused(params TarEntry[] entries) => Assert.Throws<ImageException>(() => Apply(entries));

    private void OutsideUntouched()
    {
        Assert.Equal(["victim"], Directory.GetFileSystemEntries(_outside).Select(Path.GetFileName));
        Assert.Equal("untouched\n", File.ReadAllText(Path.Combine(_outside, "victim")));
    }

    private static Interop.Interop.Statx Lstat(string path)
    {
        Assert.Equal(0, Interop.Interop.TryStat(path, out var st, followSymlinks: false));
        return st;
    }

    [Fact]
    public void Files_directories_links_and_modes_are_written_as_the_tar_says()
    {
        var stats = Apply(
            Dir("etc", 0x1ED), Regular("etc/hostname", "box\n", 0x1A4), Dir("ro", 0x16D), Regular("ro/inner", "x"),
            Symlink("etc/mtab", "/proc/mounts"), HardLink("etc/name", "etc/hostname"), Regular("implicit/dir/file", "deep"));
        Assert.Equal("box\n", File.ReadAllText(Path.Combine(_layer, "etc/hostname")));
        Assert.Equal("/proc/mounts", new FileInfo(Path.Combine(_layer, "etc/mtab")).LinkTarget);
        Assert.Equal(Lstat(Path.Combine(_layer, "etc/hostname")).Ino, Lstat(Path.Combine(_layer, "etc/name")).Ino);
        Assert.Equal("deep", File.ReadAllText(Path.Combine(_layer, "implicit/dir/file")));
        // A directory the tar makes read-only gets its mode last, after its contents were written.
        Assert.Equal(0x16D, Lstat(Path.Combine(_layer, "ro")).Mode & 0xFFF);
        Assert.Equal(2024, DateTimeOffset.FromUnixTimeSeconds(Lstat(Path.Combine(_layer, "etc/hostname")).MtimeSec).Year);
        Assert.Equal(7, stats.Entries);
    }

    [Fact]
    public void A_whiteout_becomes_an_overlayfs_whiteout_device_and_an_opaque_marker_an_xattr()
    {
        Apply(Dir("gone"), Whiteout("etc/passwd"), Opaque("var/cache"), Whiteout("gone"));
        var st = Lstat(Path.Combine(_layer, "etc/passwd"));
        Assert.Equal(Interop.Interop.S_IFCHR, st.Mode & Interop.Interop.S_IFMT);
        Assert.Equal((0u, 0u), (st.RdevMajor, st.RdevMinor));
        Assert.False(File.Exists(Path.Combine(_layer, "etc/.wh.passwd")));
        Assert.Equal("y"u8.ToArray(), Interop.Interop.GetXattr(Path.Combine(_layer, "var/cache"), LayerApplier.OpaqueXattr));
        Assert.False(File.Exists(Path.Combine(_layer, "var/cache/.wh..wh..opq")));
        // A whiteout never removes this layer's own entry: a directory of that name turns opaque instead.
        Assert.True(Directory.Exists(Path.Combine(_layer, "gone")));
        Assert.NotNull(Interop.Interop.GetXattr(Path.Combine(_layer, "gone"), LayerApplier.OpaqueXattr));
    }

    [Fact]
    public void A_whiteout_followed_by_a_directory_of_that_name_replaces_the_lower_directory()
    {
        Apply(Whiteout("data"), Dir("data"), Regular("data/new", "n"));
        Assert.Equal("n", File.ReadAllText(Path.Combine(_layer, "data/new")));
        Assert.NotNull(Interop.Interop.GetXattr(Path.Combine(_layer, "data"), LayerApplier.OpaqueXattr));
    }

    [Fact]
    public void Hostile_dot_dot_entry_is_refused()
    {
        var e = Refused(Regular("../outside/victim", "owned\n"));
        Assert.Contains("entry ../outside/victim: leaves the layer", e.Message);
        Assert.Contains("layer 1", e.Message);
        OutsideUntouched();
        Refused(Dir("a"), Regular("a/../../outside/new", "x"));
        OutsideUntouched();
    }

    [Fact]
    public void Hostile_absolute_entry_lands_inside_the_layer()
    {
        Apply(Regular(_outside + "/victim", "owned\n"));
        OutsideUntouched();
        Assert.Equal("owned\n", File.ReadAllText(Path.Combine(_layer, _outside.TrimStart('/'), "victim")));
    }

    [Fact]
    public void Hostile_symlink_pointing_out_is_kept_as_a_link_and_never_followed()
    {
        // The link itself is fine (an image's /etc/mtab points at /proc/mounts); writing through it is not.
        var e = Refused(Symlink("escape", _outside), Regular("escape/victim", "owned\n"));
        Assert.Contains("entry escape/victim: its directory escape is a symlink", e.Message);
        OutsideUntouched();
        Refused(Symlink("up", "../.."), Regular("up/outside/new", "x"));
        OutsideUntouched();
        // A file entry over a symlink replaces the link; it does not write where the link points.
        Apply(Symlink("victim-link", Path.Combine(_outside, "victim")), Regular("victim-link", "replaced\n"));
        OutsideUntouched();
        Assert.Equal("replaced\n", File.ReadAllText(Path.Combine(_layer, "victim-link")));
    }

    [Fact]
    public void Hostile_hard_link_out_of_the_layer_is_refused()
    {
        var e = Refused(HardLink("stolen", Path.Combine(_outside, "victim")));
        Assert.Contains("a hard link to", e.Message);
        Assert.Contains("which the layer does not hold", e.Message);
        Refused(HardLink("stolen", "../outside/victim"));
        Refused(Symlink("out", _outside), HardLink("stolen", "out/victim"));
        Assert.False(File.Exists(Path.Combine(_layer, "stolen")));
        Assert.Equal(1u, Lstat(Path.Combine(_outside, "victim")).NLink);
        OutsideUntouched();
    }

    [Fact]
    public void Hostile_device_nodes_are_never_made()
    {
        var stats = Apply(Dir("dev"), Device("dev/mem", TarEntryType.CharacterDevice, 1, 1), Device("dev/sda", TarEntryType.BlockDevice, 8, 0), Regular("ok", "ok"));
        Assert.Equal(2, stats.DevicesSkipped);
        Assert.False(File.Exists(Path.Combine(_layer, "dev/mem")));
        Assert.False(File.Exists(Path.Combine(_layer, "dev/sda")));
        Assert.True(File.Exists(Path.Combine(_layer, "ok")));
    }

    [Fact]
    public void Hostile_setuid_and_setgid_bits_are_dropped()
    {
        var stats = Apply(Regular("suid", "#!/bin/sh\n", 0x800 | 0x1ED), Regular("sgid", "x", 0x400 | 0x1ED), Dir("shared", 0x400 | 0x1ED));
        Assert.Equal(0x1ED, Lstat(Path.Combine(_layer, "suid")).Mode & 0xFFF);
        Assert.Equal(0x1ED, Lstat(Path.Combine(_layer, "sgid")).Mode & 0xFFF);
        Assert.Equal(2, stats.SetuidStripped);
        // A setgid directory only makes new files take its group: kept.
        Assert.Equal(0x400 | 0x1ED, Lstat(Path.Combine(_layer, "shared")).Mode & 0xFFF);
    }

    [Fact]
    public void Owners_other_than_root_are_counted_and_kept_only_by_root()
    {
        var stats = Apply(Regular("mine", "x", uid: 1234, gid: 99), Regular("roots", "x"));
        Assert.Equal(1, stats.OtherOwners);
        var st = Lstat(Path.Combine(_layer, "mine"));
        Assert.Equal(TestEnvironment.IsRoot ? 1234u : TestEnvironment.Uid, st.Uid);
    }

    [Fact]
    public void A_later_entry_replaces_an_earlier_one_of_the_same_name()
    {
        Apply(Dir("x"), Regular("x/inner", "i"), Regular("x", "now a file"), Regular("f", "one"), Regular("f", "two"));
        Assert.Equal("now a file", File.ReadAllText(Path.Combine(_layer, "x")));
        Assert.Equal("two", File.ReadAllText(Path.Combine(_layer, "f")));
    }
}
