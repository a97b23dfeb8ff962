namespace Husk.Cli.Personalities.MiniSandbox;

/// <summary>What mini-sandbox looks up on the host while it reads its options and lays out the sandbox.</summary>
internal class MiniSandboxHost
{
    /// <summary>$HOME, as mini-sandbox reads it (the environment, not the password database).</summary>
    public virtual string Home => System.Environment.GetEnvironmentVariable("HOME") ?? "";

    /// <summary>The caller's working directory.</summary>
    public virtual string WorkingDirectory => Directory.GetCurrentDirectory();

    /// <summary>Whether <paramref name="path"/> exists (following symlinks).</summary>
    public virtual bool Exists(string path) => Path.Exists(path);

    /// <summary>Whether <paramref name="path"/> is a directory (following symlinks).</summary>
    public virtual bool IsDirectory(string path) => Directory.Exists(path);

    /// <summary>Whether <paramref name="path"/> is a regular file (following symlinks).</summary>
    public virtual bool IsFile(string path) => File.Exists(path);

    /// <summary>Whether <paramref name="path"/> itself is a symbolic link.</summary>
    public virtual bool IsSymlink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The absolute path with every symlink resolved (std::filesystem::canonical), or null when it cannot be resolved.</summary>
    public virtual string? Canonical(string path)
    {
        try
        {
            string full = Path.GetFullPath(path);
            var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string resolved = "/";
            for (int i = 0; i < parts.Length; i++)
            {
                string next = Path.Combine(resolved, parts[i]);
                if (new FileInfo(next).LinkTarget is { } target)
                {
                    string rest = string.Join('/', parts[(i + 1)..]);
                    return i > 40 ? null : Canonical(Path.Combine(Path.GetFullPath(target, resolved), rest));
                }
                resolved = next;
            }
            return Path.Exists(resolved) ? resolved : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The mount point the working directory lives on: the longest mount point above it.</summary>
    public virtual string MountPointOf(string directory) =>
        Husk.FileSystem.HostMounts.Read().Select(m => m.MountPoint).Where(m => Husk.FileSystem.HostMounts.IsUnder(directory, m))
            .OrderByDescending(m => m.Length).FirstOrDefault() ?? "/";

    /// <summary>The top-level entries of / that are directories (symlinks to directories included).</summary>
    public virtual IEnumerable<string> RootDirectories() =>
        Directory.EnumerateFileSystemEntries("/").Where(Directory.Exists).Order(StringComparer.Ordinal);

    /// <summary>Creates a directory and its parents (std::filesystem::create_directories); false when it cannot.</summary>
    public virtual bool CreateDirectories(string path)
    {
        try
        {
            Directory.CreateDirectory(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>The entries of a directory (full paths), or none when it cannot be read.</summary>
    public virtual IEnumerable<string> Entries(string directory)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries(directory).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Creates an empty file that does not exist yet (O_CREAT|O_EXCL, mode 0666 less the umask); false when it cannot.</summary>
    public virtual bool CreateEmptyFile(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A user's uid and gid from /etc/passwd (getpwnam), or null.</summary>
    public virtual (uint Uid, uint Gid)? User(string name) =>
        Entry("/etc/passwd", name) is { Length: >= 4 } f && uint.TryParse(f[2], out uint uid) && uint.TryParse(f[3], out uint gid) ? (uid, gid) : null;

    /// <summary>A group's gid from /etc/group (getgrnam), or null.</summary>
    public virtual uint? Group(string name) =>
        Entry("/etc/group", name) is { Length: >= 3 } f && uint.TryParse(f[2], out uint gid) ? gid : null;

    private static string[]? Entry(string file, string name)
    {
        try
        {
            return File.ReadLines(file).Select(l => l.Split(':')).FirstOrDefault(f => f[0] == name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
