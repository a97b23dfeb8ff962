using System.Text.Json.Nodes;

namespace Husk.Tests.Oci;

/// <summary>
/// A bundle for husk-runtime tests: a rootfs of busybox (busybox-static's /bin/busybox) and runc's
/// template config (rootless when the test is not root), with the changes a test makes.
/// </summary>
internal sealed class OciBundle : IDisposable
{
    public static string Runtime => Path.Combine(TestEnvironment.Artifacts, "bin", "husk-runtime");

    /// <summary>The static busybox the rootfs is made of, or null where it is not installed.</summary>
    public static string? Busybox => new[] { "/bin/busybox", "/usr/bin/busybox" }.FirstOrDefault(p => File.Exists(p) && IsStatic(p));

    private static bool IsStatic(string path)
    {
        // A dynamic busybox would need the host's libraries inside the rootfs.
        byte[] head = File.ReadAllBytes(path).AsSpan(0, 4096).ToArray();
        return !System.Text.Encoding.ASCII.GetString(head).Contains("ld-linux", StringComparison.Ordinal);
    }

    public OciBundle(Action<JsonObject>? change = null)
    {
        Directory = TestEnvironment.ScratchDirectory("oci");
        Root = Path.Combine(Directory, "state");
        string rootfs = Path.Combine(Directory, "rootfs");
        foreach (string d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp", "root" })
            System.IO.Directory.CreateDirectory(Path.Combine(rootfs, d));
        File.Copy(Busybox!, Path.Combine(rootfs, "bin", "busybox"));
        foreach (string applet in new[] { "sh", "cat", "echo", "sleep", "id", "tty", "true", "ls", "hostname", "grep" })
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        var doc = JsonNode.Parse(Husk.Cli.Personalities.Oci.InfoCommands.Template(!TestEnvironment.IsRoot, TestEnvironment.Uid, TestEnvironment.Gid))!.AsObject();
        doc["process"]!["terminal"] = false;
        doc["root"]!["readonly"] = false;
        change?.Invoke(doc);
        File.WriteAllText(Path.Combine(Directory, "config.json"), doc.ToJsonString());
    }

    /// <summary>The bundle directory.</summary>
    public string Directory { get; }

    /// <summary>The state directory the tests pass as --root.</summary>
    public string Root { get; }

    public string Rootfs(string path) => Path.Combine(Directory, "rootfs", path.TrimStart('/'));

    /// <summary>
    /// husk-runtime --root ROOT ARGS... in the bundle directory. Its output goes to files, not pipes:
    /// a container inherits the runtime's stdio (runc's protocol), so a pipe would stay open, and a
    /// reader wait, for as long as the container lives.
    /// </summary>
    public (int Code, string Stdout, string Stderr) Run(params string[] args) => RunRuntime(Directory, ["--root", Root, .. args]);

    /// <summary>husk-runtime ARGS... with its output in files in <paramref name="dir"/> (see <see cref="Run"/>).</summary>
    public static (int Code, string Stdout, string Stderr) RunRuntime(string dir, string[] args)
    {
        string stdout = Path.Combine(dir, "runtime.out"), stderr = Path.Combine(dir, "runtime.err");
        var r = TestEnvironment.Exec("/bin/sh", ["-c", "exec \"$0\" \"$@\" </dev/null >\"$HUSK_OUT\" 2>\"$HUSK_ERR\"", Runtime, .. args],
            env: new Dictionary<string, string> { ["HUSK_OUT"] = stdout, ["HUSK_ERR"] = stderr }, cwd: dir);
        return (r.Code, File.ReadAllText(stdout), File.ReadAllText(stderr));
    }

    /// <summary>Sets the process's arguments.</summary>
    public static Action<JsonObject> Args(params string[] args) => doc => doc["process"]!["args"] = new JsonArray([.. args.Select(a => JsonValue.Create(a))]);

    public void Dispose()
    {
        // Whatever a failed test left: its containers go first (they are found by the state directory).
        if (System.IO.Directory.Exists(Root))
        {
            foreach (string dir in System.IO.Directory.GetDirectories(Root))
                Run("delete", "--force", Path.GetFileName(dir));
        }
        TestEnvironment.DeleteTree(Directory);
    }
}
