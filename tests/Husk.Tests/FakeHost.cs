using Husk.FileSystem;
using Husk.Layers;
using Husk.Launch;

namespace Husk.Tests;

/// <summary>
/// A made-up host for the planner: a small tree with a home directory holding secrets, a mount
/// below it, and the usual virtual filesystems. Plans made against it are the same on every machine.
/// </summary>
internal sealed class FakeHost : IHostFileSystem
{
    private readonly Dictionary<string, List<DirectoryEntry>> _dirs = new(StringComparer.Ordinal);
    private readonly List<HostMount> _mounts =
    [
        new("/", "/", "ext4", "/dev/vda", "0:1", "rw"),
        new("/proc", "/", "proc", "proc", "0:2", "rw"),
        new("/sys", "/", "sysfs", "sysfs", "0:3", "rw"),
        new("/dev", "/", "devtmpfs", "udev", "0:4", "rw"),
        new("/home/me/mnt", "/", "ext4", "/dev/vdb", "0:5", "rw"),
    ];

    public FakeHost()
    {
        Add("/", ("bin", "usr/bin"), ("lib64", "usr/lib64"));
        Dir("/", "etc", "home", "tmp", "usr", "var", "proc", "sys", "dev", "run", "srv");
        Dir("/usr", "bin", "lib64");
        File("/usr/bin", "sh", "python3");
        File("/etc", "passwd", "hostname");
        Dir("/home", "me");
        Dir("/home/me", ".ssh", "mnt", "src");
        File("/home/me", ".netrc", "notes.txt");
        File("/home/me/.ssh", "id_ed25519");
        Dir("/var", "tmp", "lib");
        Dir("/tmp", "work");
        Dir("/srv", "job");
    }

    /// <summary>Adds a mount at <paramref name="mountPoint"/>, an existing directory of this host.</summary>
    public FakeHost WithMount(string mountPoint)
    {
        _mounts.Add(new HostMount(mountPoint, "/", "ext4", "/dev/vdc", $"0:{_mounts.Count + 1}", "rw"));
        return this;
    }

    /// <summary>The host as the planner's context, with this caller.</summary>
    public HostContext Context(uint uid = 1000, string cwd = "/home/me/src") =>
        new()
        {
            Uid = uid, Gid = uid, WorkingDirectory = cwd, Home = "/home/me", Umask = 0x12, LandlockAbi = 7, FileSystem = this,
            FindProgram = name => name is "ip" or "nft" or "pasta" ? "/usr/sbin/" + name : null,
            HostAddresses = [System.Net.IPAddress.Loopback, System.Net.IPAddress.Parse("192.0.2.10")],
            Gateways = [System.Net.IPAddress.Parse("192.0.2.1")],
        };

    private void Dir(string parent, params string[] names)
    {
        foreach (string n in names)
        {
            Entries(parent).Add(new DirectoryEntry(n, EntryKind.Directory, n == "tmp" ? 0x3FF : 0x1ED));
            Entries(Path.Join(parent, n));
        }
    }

    private void File(string parent, params string[] names)
    {
        foreach (string n in names)
            Entries(parent).Add(new DirectoryEntry(n, EntryKind.File, 0x1A4));
    }

    private void Add(string parent, params (string Name, string Target)[] links)
    {
        foreach (var (n, t) in links)
            Entries(parent).Add(new DirectoryEntry(n, EntryKind.Symlink, 0x1FF, t));
    }

    private List<DirectoryEntry> Entries(string dir) =>
        _dirs.TryGetValue(dir, out var list) ? list : _dirs[dir] = [];

    public IReadOnlyList<HostMount> Mounts() => _mounts;

    public IEnumerable<DirectoryEntry> List(string directory) => _dirs.TryGetValue(directory, out var list) ? list : [];

    public int ModeOf(string path) => 0x1ED;

    public EntryKind? KindOf(string path)
    {
        if (_dirs.ContainsKey(path))
            return EntryKind.Directory;
        string parent = Path.GetDirectoryName(path) ?? "/";
        var entry = List(parent).FirstOrDefault(e => e.Name == Path.GetFileName(path));
        return entry.Name is null ? null : entry.Kind == EntryKind.Symlink ? EntryKind.File : entry.Kind;
    }
}
