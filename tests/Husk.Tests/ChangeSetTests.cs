using System.Text;
using Husk.FileSystem;
using Husk.Layers;

namespace Husk.Tests;

/// <summary>
/// The change set and the committer on hand-made layers: a "host" tree and an upper layer in a
/// scratch directory, so every case (and every hostile one) is exact. Real overlays are covered
/// by the integration tests of the overlay mode.
/// </summary>
public class ChangeSetTests : IDisposable
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("changes");
    private string Host => Path.Combine(_dir, "host");
    private string Upper => Path.Combine(_dir, "upper");

    public ChangeSetTests()
    {
        Directory.CreateDirectory(Host);
        Directory.CreateDirectory(Upper);
    }

    public void Dispose() => TestEnvironment.DeleteTree(_dir);

    private void HostFile(string rel, string content) => WriteFile(Host, rel, content);

    private void UpperFile(string rel, string content) => WriteFile(Upper, rel, content);

    private static void WriteFile(string root, string rel, string content)
    {
        string path = root + rel;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    /// <summary>A whiteout in overlayfs's xattr form (a 0:0 device needs CAP_MKNOD outside overlayfs).</summary>
    private void Whiteout(string rel)
    {
        UpperFile(rel, "");
        Assert.Equal(0, TestEnvironment.Exec("setfattr", ["-n", "user.overlay.whiteout", "-v", "y", Upper + rel]).Code);
    }

    /// <summary>A copy-up: same content, mode and times (to the nanosecond) as the host's.</summary>
    private void CopyUp(string rel)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Upper + rel)!);
        Assert.Equal(0, TestEnvironment.Exec("cp", ["-p", Host + rel, Upper + rel]).Code);
    }

    private Dictionary<string, Change> Scan(DateTimeOffset? since = null) =>
        ChangeSet.Scan(Upper, Host, since).ToDictionary(c => c.Path);

    [Fact]
    public void Every_kind_of_change_is_found_and_an_unchanged_copy_up_is_not()
    {
        HostFile("/etc/kept", "same\n");
        HostFile("/etc/changed", "old\n");
        HostFile("/etc/gone", "bye\n");
        HostFile("/etc/mode", "x\n");
        HostFile("/etc/becomes-dir", "file\n");
        HostFile("/data/old/a", "a\n");
        HostFile("/data/old/b", "b\n");
        File.CreateSymbolicLink(Host + "/etc/link", "target-a");

        CopyUp("/etc/kept");
        UpperFile("/etc/changed", "new\n");
        Whiteout("/etc/gone");
        CopyUp("/etc/mode");
        File.SetUnixFileMode(Upper + "/etc/mode", (UnixFileMode)0x1C0);
        UpperFile("/etc/new", "fresh\n");
        UpperFile("/etc/becomes-dir/inside", "now a dir\n");
        File.CreateSymbolicLink(Upper + "/etc/link", "target-b");
        UpperFile("/data/old/c", "replacing\n");
        Assert.Equal(0, TestEnvironment.Exec("setfattr", ["-n", "user.overlay.opaque", "-v", "y", Upper + "/data/old"]).Code);

        var changes = Scan();
        Assert.DoesNotContain("/etc/kept", changes.Keys);
        Assert.Equal(ChangeKind.Modified, changes["/etc/changed"].Kind);
        Assert.Equal(ChangeKind.Deleted, changes["/etc/gone"].Kind);
        Assert.Equal(ChangeKind.MetadataOnly, changes["/etc/mode"].Kind);
        Assert.Equal(ChangeKind.Added, changes["/etc/new"].Kind);
        Assert.Equal((ChangeKind.TypeChanged, NodeKind.Directory, NodeKind.File),
            (changes["/etc/becomes-dir"].Kind, changes["/etc/becomes-dir"].Node, changes["/etc/becomes-dir"].HostNode));
        Assert.Equal(ChangeKind.Added, changes["/etc/becomes-dir/inside"].Kind);
        Assert.Equal((ChangeKind.Modified, "target-b"), (changes["/etc/link"].Kind, changes["/etc/link"].LinkTarget));
        Assert.Equal(ChangeKind.Replaced, changes["/data/old"].Kind);
        Assert.Equal(ChangeKind.Added, changes["/data/old/c"].Kind);
        // Directories that only hold changes (copied up for them) are not changes themselves.
        Assert.DoesNotContain("/etc", changes.Keys);
    }

    [Fact]
    public void Commit_applies_everything_atomically_keeping_mode_times_and_user_xattrs()
    {
        HostFile("/etc/changed", "old\n");
        HostFile("/etc/gone", "bye\n");
        HostFile("/etc/becomes-dir", "file\n");
        UpperFile("/etc/changed", "new\n");
        Whiteout("/etc/gone");
        UpperFile("/etc/sub/deep/new", "deep\n");
        File.SetUnixFileMode(Upper + "/etc/sub/deep/new", (UnixFileMode)0x1E0);
        File.SetLastWriteTimeUtc(Upper + "/etc/sub/deep/new", new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc));
        Assert.Equal(0, TestEnvironment.Exec("setfattr", ["-n", "user.note", "-v", "kept", Upper + "/etc/sub/deep/new"]).Code);
        Assert.Equal(0, TestEnvironment.Exec("setfattr", ["-n", "user.overlay.origin", "-v", "internal", Upper + "/etc/sub/deep/new"]).Code);
        UpperFile("/etc/becomes-dir/inside", "x\n");
        File.CreateSymbolicLink(Upper + "/etc/link", "/etc/passwd");

        var report = Committer.Apply(ChangeSet.Scan(Upper, Host), Host);
        Assert.True(report.Complete, string.Join("; ", report.Failed.Select(f => $"{f.Change.Path}: {f.Reason}")));
        Assert.Equal("new\n", File.ReadAllText(Host + "/etc/changed"));
        Assert.False(File.Exists(Host + "/etc/gone"));
        Assert.Equal("deep\n", File.ReadAllText(Host + "/etc/sub/deep/new"));
        Assert.Equal((UnixFileMode)0x1E0, File.GetUnixFileMode(Host + "/etc/sub/deep/new"));
        Assert.Equal(new DateTime(2020, 1, 2, 3, 4, 5, DateTimeKind.Utc), File.GetLastWriteTimeUtc(Host + "/etc/sub/deep/new"));
        string xattrs = TestEnvironment.Exec("getfattr", ["-d", "-m", "-", Host + "/etc/sub/deep/new"]).Stdout;
        Assert.Contains("user.note=\"kept\"", xattrs);
        Assert.DoesNotContain("overlay", xattrs);
        Assert.Equal("x\n", File.ReadAllText(Host + "/etc/becomes-dir/inside"));
        // A symlink is recreated as a symlink, never followed.
        Assert.Equal("/etc/passwd", new FileInfo(Host + "/etc/link").LinkTarget);
        // No temporary files are left behind.
        Assert.Empty(Directory.EnumerateFileSystemEntries(Host, "*.husk-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_host_directory_swapped_for_a_symlink_cannot_lead_a_commit_outside_the_target()
    {
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        Directory.CreateDirectory(Host + "/home/user");
        var since = DateTimeOffset.UtcNow.AddSeconds(-1);
        UpperFile("/home/user/file", "payload\n");
        // During the session, someone replaces /home/user on the host by a symlink to elsewhere.
        Directory.Delete(Host + "/home/user");
        File.CreateSymbolicLink(Host + "/home/user", outside);
        var report = Committer.Apply(ChangeSet.Scan(Upper, Host, since), Host);
        Assert.Contains(report.Conflicts, c => c.Path == "/home/user");
        Assert.Contains(report.Failed, f => f.Change.Path == "/home/user/file" && f.Reason.Contains("refusing to follow a symlink"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        // Forced, the symlink (a host entry the sandbox saw as a directory) is replaced, still inside the target.
        report = Committer.Apply(ChangeSet.Scan(Upper, Host, since), Host, force: true);
        Assert.True(report.Complete, string.Join("; ", report.Failed.Select(f => f.Reason)));
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        Assert.Equal("payload\n", File.ReadAllText(Host + "/home/user/file"));
    }

    [Fact]
    public void A_layer_symlink_to_etc_in_place_of_a_directory_is_committed_as_a_symlink_only()
    {
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        Directory.CreateDirectory(Host + "/proj");
        File.CreateSymbolicLink(Upper + "/proj", outside); // the sandbox replaced /proj by a symlink
        var changes = ChangeSet.Scan(Upper, Host);
        var report = Committer.Apply(changes, Host, recursive: true);
        Assert.True(report.Complete);
        Assert.Equal(outside, new FileInfo(Host + "/proj").LinkTarget);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
    }

    [Fact]
    public void Names_with_newlines_and_odd_characters_are_handled_as_names()
    {
        string odd = "/data/line\nbreak ../ and space";
        UpperFile(odd.Replace("../", "..."), "odd\n");
        var report = Committer.Apply(ChangeSet.Scan(Upper, Host), Host);
        Assert.True(report.Complete);
        Assert.Equal("odd\n", File.ReadAllText(Host + odd.Replace("../", "...")));
    }

    [Fact]
    public void A_file_with_other_hard_links_is_written_in_place_and_the_report_says_so()
    {
        HostFile("/a/linked", "old\n");
        Assert.Equal(0, TestEnvironment.Exec("ln", [Host + "/a/linked", Host + "/a/other-name"]).Code);
        UpperFile("/a/linked", "new\n");
        var report = Committer.Apply(ChangeSet.Scan(Upper, Host), Host);
        Assert.True(report.Complete);
        Assert.Equal("new\n", File.ReadAllText(Host + "/a/other-name"));
        Assert.Contains(report.Notes, n => n.Contains("in place") && n.Contains("hard links"));
    }

    [Fact]
    public void Host_changes_after_the_session_began_are_conflicts_left_alone_unless_forced()
    {
        HostFile("/doc", "original\n");
        UpperFile("/doc", "sandbox's version\n");
        HostFile("/doc", "someone else's edit\n");
        // The session's start is set around the edit's own change time (which nobody can set), not by waiting.
        Assert.Equal(0, Interop.Interop.TryStat(Host + "/doc", out var st));
        var edited = DateTimeOffset.FromUnixTimeSeconds(st.CtimeSec).AddTicks(st.CtimeNsec / 100);
        Assert.False(ChangeSet.Scan(Upper, Host, edited).Single().Conflict);
        var changes = ChangeSet.Scan(Upper, Host, edited.AddTicks(-1));
        Assert.True(changes.Single().Conflict);
        var report = Committer.Apply(changes, Host);
        Assert.Single(report.Conflicts);
        Assert.Equal("someone else's edit\n", File.ReadAllText(Host + "/doc"));
        Committer.Apply(changes, Host, force: true);
        Assert.Equal("sandbox's version\n", File.ReadAllText(Host + "/doc"));
    }

    [Fact]
    public void Recursive_deletions_need_confirmation_and_special_files_are_refused()
    {
        HostFile("/tree/a", "a\n");
        HostFile("/tree/sub/b", "b\n");
        Whiteout("/tree");
        Assert.Equal(0, TestEnvironment.Exec("mkfifo", [Upper + "/fifo"]).Code);
        var changes = ChangeSet.Scan(Upper, Host);
        var report = Committer.Apply(changes, Host);
        Assert.Contains(report.Failed, f => f.Change.Path == "/tree" && f.Reason.Contains("--recursive"));
        Assert.Contains(report.Failed, f => f.Change.Path == "/fifo" && f.Reason.Contains("FIFOs are not committed"));
        Assert.True(File.Exists(Host + "/tree/sub/b"));
        Assert.False(File.Exists(Host + "/fifo"));
        report = Committer.Apply(changes.Where(c => c.Path == "/tree").ToList(), Host, recursive: true);
        Assert.True(report.Complete);
        Assert.False(Directory.Exists(Host + "/tree"));
    }

    [Fact]
    public void A_manifest_of_originals_catches_host_edits_that_timestamps_would_not()
    {
        HostFile("/notes", "original\n");
        var manifest = new Dictionary<string, string> { ["/notes"] = SandboxRoot.HashOf(Host + "/notes")! };
        UpperFile("/notes", "sandbox's\n");
        // Without a baseline time only the manifest can tell: unchanged host content is no conflict...
        Assert.False(ChangeSet.Scan(Upper, Host, since: null, manifest).Single().Conflict);
        // ...changed host content is, with a reason a user understands.
        HostFile("/notes", "edited meanwhile\n");
        var change = ChangeSet.Scan(Upper, Host, since: null, manifest).Single();
        Assert.True(change.Conflict);
        Assert.Equal("its content on the host differs from when the session began", change.ConflictReason);
    }

    [Fact]
    public void DeletingARootOpensUpLockedDirectoriesAndNeverFollowsSymlinks()
    {
        var root = SandboxRoot.CreateOrOpen(Path.Combine(_dir, "root"));
        string upper = root.UpperDir;
        WriteFile(upper, "/etc/app/conf", "x");
        WriteFile(upper, "/srv/data/file", "y");
        HostFile("/keep/precious", "z");
        File.CreateSymbolicLink(upper + "/etc/outside", Host + "/keep");
        // overlayfs leaves work/work at mode 000; a payload can lock its own directories too.
        Directory.CreateDirectory(root.Path + "/workdir/usr/work/work");
        File.SetUnixFileMode(root.Path + "/workdir/usr/work/work", 0);
        File.SetUnixFileMode(upper + "/srv/data", UnixFileMode.UserRead | UnixFileMode.UserExecute);
        File.SetUnixFileMode(upper + "/etc/app", 0);

        root.Delete();

        Assert.False(Directory.Exists(root.Path));
        Assert.Equal("z", File.ReadAllText(Host + "/keep/precious"));
    }

    [Fact]
    public void Directories_Husk_prepared_are_changes_only_when_the_sandbox_changed_them()
    {
        Directory.CreateDirectory(Host + "/usr");
        File.SetUnixFileMode(Host + "/usr", (UnixFileMode)0x1ED);
        Directory.CreateDirectory(Upper + "/usr");
        File.SetUnixFileMode(Upper + "/usr", (UnixFileMode)0x16D); // r-x for the caller, as prepared
        Directory.CreateDirectory(Upper + "/gone");
        Directory.CreateDirectory(Upper + "/gone-but-used");
        UpperFile("/gone-but-used/file", "x");
        var prepared = new Dictionary<string, int> { ["/usr"] = 0x16D, ["/gone"] = ModeOf(Upper + "/gone"), ["/gone-but-used"] = ModeOf(Upper + "/gone-but-used") };

        var changes = ChangeSet.Scan(Upper, Host, prepared: prepared).ToDictionary(c => c.Path);

        Assert.Equal(["/gone-but-used", "/gone-but-used/file"], changes.Keys.Order(StringComparer.Ordinal));
        // Without the record, the same layer reads as a mode change and a new directory.
        var unrecorded = ChangeSet.Scan(Upper, Host).ToDictionary(c => c.Path);
        Assert.Equal(ChangeKind.MetadataOnly, unrecorded["/usr"].Kind);
        Assert.Equal(ChangeKind.Added, unrecorded["/gone"].Kind);
    }

    private static int ModeOf(string path) => (int)File.GetUnixFileMode(path);

    [Fact]
    public void A_root_made_by_try_dates_its_session_from_the_layers_birth_not_its_last_change()
    {
        // try makes SANDBOX/upperdir itself, with no husk.json: the layer's directory is the only clock.
        string root = Path.Combine(_dir, "tryroot");
        Directory.CreateDirectory(Path.Combine(root, "upperdir"));
        var began = SandboxRoot.Open(root)!.Since;
        Thread.Sleep(50);
        HostFile("/kept.txt", "host edit\n");
        Thread.Sleep(50);
        Directory.CreateDirectory(Path.Combine(root, "upperdir", "var")); // a copy-up at the top of the layer, later
        var reopened = SandboxRoot.Open(root)!;
        Assert.Equal(began, reopened.Since);
        var hostEdit = new DateTimeOffset(File.GetLastWriteTimeUtc(Host + "/kept.txt"), TimeSpan.Zero);
        Assert.True(reopened.Since < hostEdit, $"{reopened.Since:O} is not before the host edit at {hostEdit:O}");
    }
}
