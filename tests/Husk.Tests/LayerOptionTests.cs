using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Tests;

/// <summary>
/// The general engine options the try and mbox personalities need: planner choices (overlaying
/// /tmp and /run, a covered storage, extra lower layers) and committing FIFOs and sockets.
/// </summary>
public class LayerOptionTests : IDisposable
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("layeropts");

    public void Dispose() => TestEnvironment.DeleteTree(_dir);

    private static readonly HostMount[] Mounts =
    [
        new("/", "/", "ext4", "/dev/vda", "0:1", "rw"),
        new("/proc", "/", "proc", "proc", "0:2", "rw"),
        new("/home/me/mnt", "/", "ext4", "/dev/vdb", "0:3", "rw"),
    ];

    private static IEnumerable<DirectoryEntry> List(string dir) => dir switch
    {
        "/" => [new("home", EntryKind.Directory, 0x1ED), new("tmp", EntryKind.Directory, 0x3FF), new("proc", EntryKind.Directory, 0x16D),
                new("usr", EntryKind.Directory, 0x1ED), new("run", EntryKind.Directory, 0x1ED)],
        "/home" => [new("me", EntryKind.Directory, 0x1ED)],
        "/home/me" => [new("mnt", EntryKind.Directory, 0x1ED), new("src", EntryKind.Directory, 0x1ED), new("notes", EntryKind.File, 0x1A4)],
        "/tmp" => [new("ws", EntryKind.Directory, 0x1ED), new("sbx", EntryKind.Directory, 0x1C0), new("older", EntryKind.Directory, 0x1C0),
                   new("loose", EntryKind.File, 0x1A4)],
        _ => [],
    };

    private static IReadOnlyList<string> Overlaid(OverlayPlan plan) =>
        [.. plan.Mounts.OfType<OverlayMount>().Select(o => o.Destination)];

    [Fact]
    public void By_default_tmp_and_run_are_left_fresh_and_a_storage_in_tmp_is_out_of_sight()
    {
        var plan = OverlayPlanner.Plan(Mounts, "/tmp/sbx", List, _ => 0x1ED);
        Assert.DoesNotContain("/tmp", Overlaid(plan));
        Assert.DoesNotContain("/run", Overlaid(plan));
        Assert.Contains("/usr", Overlaid(plan));
        Assert.Contains("/home/me/src", Overlaid(plan)); // /home/me has a mount below it: scaffolding
    }

    [Fact]
    public void Try_style_overlays_tmp_whole_and_covers_the_storage_inside_it()
    {
        var options = new OverlayPlanOptions { Fresh = ["/proc", "/dev", "/sys"], OverlayVolatile = true, CoverStorage = true };
        var plan = OverlayPlanner.Plan(Mounts, "/tmp/sbx", List, _ => 0x1ED, options);
        Assert.Contains("/tmp", Overlaid(plan));
        Assert.Contains("/run", Overlaid(plan));
        int overlay = plan.Mounts.ToList().FindIndex(m => m is OverlayMount { Destination: "/tmp" });
        int cover = plan.Mounts.ToList().FindIndex(m => m is TmpfsMount { Destination: "/tmp/sbx" });
        Assert.True(cover > overlay, "the storage is covered after /tmp is overlaid");
        var layer = Assert.Single(plan.Layers, l => l.Directory == "/tmp");
        Assert.Equal("/tmp/sbx/upperdir/tmp", layer.Upper);
        Assert.Equal("/tmp/sbx/workdir/tmp", layer.Work);
    }

    [Fact]
    public void Extra_lowers_go_above_the_host_and_a_directory_holding_one_is_not_overlaid_whole()
    {
        var options = new OverlayPlanOptions
        {
            Fresh = ["/proc", "/dev", "/sys"],
            OverlayVolatile = true,
            CoverStorage = true,
            LowerRoots = ["/tmp/older"],
            ExtraLowers = dir => dir == "/usr" ? ["/tmp/older/upperdir/usr"] : [],
        };
        var plan = OverlayPlanner.Plan(Mounts, "/tmp/sbx", List, _ => 0x1ED, options);
        var usr = Assert.Single(plan.Mounts.OfType<OverlayMount>(), o => o.Destination == "/usr");
        Assert.Equal(["/usr", "/tmp/older/upperdir/usr"], usr.Lowers);
        // A lower inside a lower is refused by the kernel (ELOOP): /tmp is scaffolding, its directories overlaid one by one.
        Assert.DoesNotContain("/tmp", Overlaid(plan));
        Assert.Contains("/tmp/ws", Overlaid(plan));
        Assert.DoesNotContain(plan.Mounts, m => m.Destination.StartsWith("/tmp/sbx", StringComparison.Ordinal));
        Assert.DoesNotContain(plan.Mounts, m => m.Destination.StartsWith("/tmp/older", StringComparison.Ordinal));
    }

    [Fact]
    public void A_directory_with_a_mount_below_it_stays_writable_over_a_stand_in_of_its_entries()
    {
        var plan = OverlayPlanner.Plan(Mounts, "/tmp/sbx", List, _ => 0x1ED);
        var ops = plan.Mounts.ToList();
        var me = Assert.Single(ops.OfType<OverlayMount>(), o => o.Destination == "/home/me");
        Assert.Equal((SourceRoot.Storage, OverlayKind.Persistent), (me.LowerRoot, me.Kind));
        Assert.Equal(["/scaffold/home/me"], me.Lowers);
        Assert.Equal("/tmp/sbx/upperdir/home/me", me.Upper);
        Assert.Contains(plan.Layers, l => l.Directory == "/home/me");
        // The stand-in: one entry of the same kind per entry, made in the storage before the overlay.
        int overlay = ops.IndexOf(me);
        Assert.True(ops.FindIndex(o => o is MakeDirectory { InStorage: true, Destination: "/scaffold/home/me/src" }) is >= 0 and var src && src < overlay);
        Assert.True(ops.FindIndex(o => o is MakeDirectory { InStorage: true, Destination: "/scaffold/home/me/mnt" }) is >= 0 and var mnt && mnt < overlay);
        Assert.True(ops.FindIndex(o => o is WriteFile { InStorage: true, Destination: "/scaffold/home/me/notes" }) is >= 0 and var notes && notes < overlay);
        // On top: the file bound read-only, the directories (the mount point too) overlaid.
        Assert.True(ops.FindIndex(o => o is BindMount { ReadOnly: true, Destination: "/home/me/notes" }) > overlay);
        Assert.True(ops.FindIndex(o => o is OverlayMount { Destination: "/home/me/src" }) > overlay);
        Assert.True(ops.FindIndex(o => o is OverlayMount { Destination: "/home/me/mnt" }) > overlay);
        // The root itself stays scaffolding; the working directory's read-only files are named with the reason.
        Assert.DoesNotContain(ops, o => o is OverlayMount { Destination: "/" });
        Assert.Equal("existing files directly in /home/me stay read-only in the sandbox (/home/me/mnt is a mount point below it: overlayfs cannot take it whole); new files and its subdirectories can change",
            plan.ReadOnlyNote("/home/me"));
        Assert.Null(plan.ReadOnlyNote("/home/me/src"));
    }

    [Fact]
    public void A_file_in_scaffolding_is_bound_from_its_directorys_view_or_its_own_when_it_is_a_mount_point()
    {
        HostMount[] mounts = [.. Mounts, new("/home/me/notes", "/", "ext4", "/dev/vdc", "0:4", "rw")];
        var plan = OverlayPlanner.Plan(mounts, "/tmp/sbx", dir => dir == "/home/me" ? [.. List(dir), new("todo", EntryKind.File, 0x1A4)] : List(dir), _ => 0x1ED);
        var binds = plan.Mounts.OfType<BindMount>().Where(b => b.Destination.StartsWith("/home/me/", StringComparison.Ordinal)).ToDictionary(b => b.Destination, b => b.LayerView);
        Assert.Equal("/home/me/notes", binds["/home/me/notes"]);
        Assert.Equal("/home/me", binds["/home/me/todo"]);
    }

    [Fact]
    public void Fifos_and_sockets_are_committed_only_when_asked_and_devices_never()
    {
        string host = Path.Combine(_dir, "host"), upper = Path.Combine(_dir, "upper");
        Directory.CreateDirectory(host);
        Directory.CreateDirectory(upper);
        File.WriteAllText(Path.Combine(host, "pipe"), "was a file\n");
        Assert.Equal(0, TestEnvironment.Exec("mkfifo", [Path.Combine(upper, "pipe")]).Code);
        Assert.Equal(0, TestEnvironment.Exec("python3", ["-c", $"import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind('{upper}/sock')"]).Code);

        var refused = Committer.Apply(ChangeSet.Scan(upper, host), host);
        Assert.Equal(2, refused.Failed.Count);
        Assert.Equal("was a file\n", File.ReadAllText(Path.Combine(host, "pipe")));

        var report = Committer.Apply(ChangeSet.Scan(upper, host), host, specials: true);
        Assert.True(report.Complete, string.Join("; ", report.Failed.Select(f => f.Change.Path + ": " + f.Reason)));
        Assert.Equal(0, TestEnvironment.Exec("test", ["-p", Path.Combine(host, "pipe")]).Code);
        Assert.Equal(0, TestEnvironment.Exec("test", ["-S", Path.Combine(host, "sock")]).Code);
    }

    [Fact]
    public void Directories_on_the_way_to_a_layer_keep_the_host_modes_and_are_no_change()
    {
        string host = Path.Combine(_dir, "sticky");
        Directory.CreateDirectory(Path.Combine(host, "ws"));
        File.SetUnixFileMode(host, (UnixFileMode)0x3FF); // 0777 (set here: the umask drops bits from mkdir)
        Assert.Equal(0, TestEnvironment.Exec("chmod", ["1777", host]).Code);
        var root = SandboxRoot.CreateOrOpen(Path.Combine(_dir, "root"));
        string dir = Path.Combine(host, "ws");
        root.PrepareLayers([new OverlayLayer(dir, Path.Join(root.UpperDir, dir), Path.Join(root.WorkDir, dir), 0x1ED)]);
        Assert.Equal(0x3FF | 0x200, (int)File.GetUnixFileMode(Path.Join(root.UpperDir, host)));
        Assert.Empty(root.Changes());
    }

    [Fact]
    public void An_optional_overlay_whose_lower_vanished_is_skipped_and_a_required_one_fails()
    {
        string gone = $"/husk-vanished-{Guid.NewGuid():N}";
        SandboxSpec With(bool optional) => TestEnvironment.Spec("/bin/sh", "-c", "test -d /mnt/view && ! test -e /mnt/view/x") with
        {
            Mounts = [.. TestEnvironment.Spec("true").Mounts, new TmpfsMount("/mnt"),
                new OverlayMount("/mnt/view", [gone]) { Kind = OverlayKind.Temporary, Optional = optional }],
        };
        Assert.Equal(0, TestEnvironment.Run(With(optional: true)).Exit.ExitCode);
        Assert.Throws<SandboxSetupException>(() => TestEnvironment.Run(With(optional: false)));
    }
}
