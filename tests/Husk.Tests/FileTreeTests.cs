using Husk.FileSystem;

namespace Husk.Tests;

/// <summary>Deleting trees (sandbox roots, layers): links are removed as links, never followed.</summary>
public class FileTreeTests : IDisposable
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("filetree");

    public void Dispose()
    {
        // Put back what a failing test may have left closed, so the scratch directory can go.
        foreach (string d in Directory.EnumerateDirectories(_dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
            File.SetUnixFileMode(d, (UnixFileMode)0x1C0);
        TestEnvironment.DeleteTree(_dir);
    }

    /// <summary>What python3 -m venv leaves: lib64 -> lib (relative), bin/python -> an absolute path.</summary>
    private static void Venv(string at)
    {
        Directory.CreateDirectory(Path.Combine(at, "lib", "python3.11", "site-packages"));
        File.WriteAllText(Path.Combine(at, "lib", "python3.11", "site-packages", "x.py"), "");
        File.CreateSymbolicLink(Path.Combine(at, "lib64"), "lib");
        Directory.CreateDirectory(Path.Combine(at, "bin"));
        File.CreateSymbolicLink(Path.Combine(at, "bin", "python3"), "/usr/bin/python3");
        File.WriteAllText(Path.Combine(at, "pyvenv.cfg"), "home = /usr/bin\n");
    }

    [Fact]
    public void A_root_holding_a_venv_is_deleted_whole()
    {
        var root = SandboxRoot.CreateOrOpen(Path.Combine(_dir, "root"));
        // Many link-and-directory pairs, so that whatever order the directory lists them in, some
        // link comes after the directory it names has gone (the order that crashed).
        for (int i = 0; i < 8; i++)
            Venv(Path.Combine(root.UpperDir, "work", $"v{i}"));
        root.Delete();
        Assert.False(Path.Exists(root.Path));
    }

    [Fact]
    public void Links_to_the_outside_are_removed_and_what_they_name_is_left_as_it_was()
    {
        string outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "keep"), "kept");
        File.SetUnixFileMode(outside, (UnixFileMode)0x140); // r-x------: opening up would change it
        string tree = Path.Combine(_dir, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "sub"));
        File.CreateSymbolicLink(Path.Combine(tree, "sub", "to-dir"), outside);
        File.CreateSymbolicLink(Path.Combine(tree, "to-file"), Path.Combine(outside, "keep"));
        File.CreateSymbolicLink(Path.Combine(tree, "dangling"), Path.Combine(_dir, "nowhere"));
        FileTree.Delete(tree);
        Assert.False(Path.Exists(tree));
        Assert.Equal("kept", File.ReadAllText(Path.Combine(outside, "keep")));
        Assert.Equal((UnixFileMode)0x140, File.GetUnixFileMode(outside));
    }

    [Fact]
    public void Closed_directories_of_the_tree_are_opened_up_to_delete_them()
    {
        string tree = Path.Combine(_dir, "closed");
        Directory.CreateDirectory(Path.Combine(tree, "work", "work"));
        Directory.CreateDirectory(Path.Combine(tree, "ro"));
        File.WriteAllText(Path.Combine(tree, "ro", "f"), "");
        File.SetUnixFileMode(Path.Combine(tree, "ro"), (UnixFileMode)0x16D); // r-xr-xr-x
        File.SetUnixFileMode(Path.Combine(tree, "work", "work"), 0); // as overlayfs leaves it
        FileTree.Delete(tree);
        Assert.False(Path.Exists(tree));
    }

    [Fact]
    public void A_link_given_as_the_tree_is_unlinked_and_nothing_is_deleted_through_it()
    {
        string target = Path.Combine(_dir, "target");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "f"), "x");
        string link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, target);
        FileTree.Delete(link);
        Assert.False(Path.Exists(link));
        Assert.True(File.Exists(Path.Combine(target, "f")));
        FileTree.Delete(Path.Combine(_dir, "never-there")); // nothing to do
    }

    [Fact]
    public void What_cannot_be_deleted_is_named_in_one_message()
    {
        if (TestEnvironment.IsRoot)
            Assert.Skip("root may delete anything");
        string tree = Path.Combine(_dir, "locked");
        Directory.CreateDirectory(Path.Combine(tree, "inner"));
        File.WriteAllText(Path.Combine(tree, "inner", "f"), "");
        File.SetUnixFileMode(Path.Combine(tree, "inner"), (UnixFileMode)0x16D);
        // Without opening up (a host tree), the read-only directory keeps its file.
        var e = Assert.Throws<SyscallException>(() => FileTree.Delete(tree, openUp: false));
        Assert.Equal(Errno.EACCES, e.Errno);
        Assert.Equal(Path.Combine(tree, "inner", "f"), e.Subject);
        Assert.True(File.Exists(Path.Combine(tree, "inner", "f")));
    }
}
