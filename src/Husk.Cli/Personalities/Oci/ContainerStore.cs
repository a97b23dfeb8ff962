using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Husk.Interop;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// The state directory (<c>--root</c>): one directory per container holding state.json, the config
/// it was created from and, between create and start, exec.fifo. Without --root it is
/// /run/husk-runtime for root of the initial user namespace, else (rootless: podman runs it as
/// uid 0 of its own namespace, with the variable set) $XDG_RUNTIME_DIR/husk-runtime, as crun
/// chooses, or /run/user/UID/husk-runtime, or /tmp/husk-runtime-UID when neither exists.
/// </summary>
internal sealed partial class ContainerStore
{
    public ContainerStore(string root)
    {
        Root = root;
    }

    public string Root { get; }

    public static string DefaultRoot(bool rootOfInitialNamespace)
    {
        if (rootOfInitialNamespace)
            return "/run/husk-runtime";
        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime)
            return Path.Combine(runtime, "husk-runtime");
        uint uid = Interop.Interop.GetEuid();
        string user = $"/run/user/{uid}";
        return System.IO.Directory.Exists(user) ? Path.Combine(user, "husk-runtime") : $"/tmp/husk-runtime-{uid}";
    }

    [GeneratedRegex(@"^[\w+\-.]+$")]
    private static partial Regex IdPattern();

    /// <summary>runc's rule for ids: letters, digits, _ + - and dots, not . or .. (they name directories).</summary>
    public static void CheckId(string id)
    {
        if (id.Length == 0 || id.Length > 1024 || !IdPattern().IsMatch(id) || id is "." or "..")
            throw new OciUsageException($"invalid id format: {id}");
    }

    public string Directory(string id) => Path.Combine(Root, id);

    public string StatePath(string id) => Path.Combine(Root, id, "state.json");

    public string ConfigPath(string id) => Path.Combine(Root, id, "config.json");

    public string FifoPath(string id) => Path.Combine(Root, id, "exec.fifo");

    /// <summary>The container's state, or null when there is no such container.</summary>
    public ContainerState? Load(string id)
    {
        CheckId(id);
        string path = StatePath(id);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        return ContainerState.Read(text, path);
    }

    /// <summary>The state, or runc's "does not exist" error (containerd maps it to NotFound).</summary>
    public ContainerState Require(string id) => Load(id) ?? throw new OciRuntimeException($"container \"{id}\" does not exist");

    /// <summary>The config the container was created from.</summary>
    public OciConfig LoadConfig(string id) => OciConfig.Parse(File.ReadAllText(ConfigPath(id)));

    /// <summary>Makes the container's directory; fails as runc does when the id is taken.</summary>
    public void CreateDirectory(string id)
    {
        CheckId(id);
        System.IO.Directory.CreateDirectory(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        // A state directory someone else made first (under /tmp) must not be trusted.
        if (Interop.Interop.TryStat(Root, out var st, followSymlinks: false) != 0 || st.Uid != Interop.Interop.GetEuid() || (st.Mode & 0x12) != 0)
            throw new OciRuntimeException($"refusing to use the state directory {Root}: it is not this user's, or others may write to it");
        if (Interop.Interop.Mkdirat(Interop.Interop.AT_FDCWD, Directory(id), 0x1C0 /* 0700 */) != 0)
        {
            var e = SyscallException.FromLastError("mkdir", Directory(id));
            throw e.Errno == Errno.EEXIST ? new OciRuntimeException($"container with id exists: {id}") : e;
        }
    }

    /// <summary>Writes state.json atomically (a reader never sees half of it).</summary>
    public void Save(ContainerState state)
    {
        string path = StatePath(state.Id);
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
            state.Write(w);
        WriteAtomically(path, ms.ToArray());
    }

    internal static void WriteAtomically(string path, byte[] data)
    {
        string tmp = path + ".tmp";
        File.WriteAllBytes(tmp, data);
        File.Move(tmp, path, overwrite: true);
    }

    public void Remove(string id) => Husk.FileSystem.FileTree.Delete(Directory(id));

    /// <summary>The ids of every container, in order.</summary>
    public IEnumerable<string> Ids()
    {
        if (!System.IO.Directory.Exists(Root))
            return [];
        return System.IO.Directory.EnumerateDirectories(Root).Select(Path.GetFileName).Where(n => n is not null && File.Exists(StatePath(n))).Order(StringComparer.Ordinal)!;
    }

    /// <summary>A pid file as runc writes it: the number alone, no newline, replaced atomically.</summary>
    public static void WritePidFile(string path, int pid) =>
        WriteAtomically(Path.GetFullPath(path), Encoding.ASCII.GetBytes(pid.ToString(System.Globalization.CultureInfo.InvariantCulture)));
}

/// <summary>A runtime error with runc's wording (containerd matches some of it).</summary>
internal sealed class OciRuntimeException(string message) : Exception(message);
