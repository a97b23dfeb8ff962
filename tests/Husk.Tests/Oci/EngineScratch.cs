using System.Globalization;
using static Husk.Interop.Interop;

namespace Husk.Tests.Oci;

/// <summary>
/// A scratch directory for an engine (podman, containerd) driving husk-runtime: its storage, run
/// directories and the runtime's state all live here, outside /tmp, /var/tmp and /run, readable by
/// a throwaway user; with a busybox-static rootfs tarball to import. What is left running or
/// mounted is found by this directory's path (in a command line, as a process's root, in the
/// mount table).
/// </summary>
internal sealed class EngineScratch : IDisposable
{
    public EngineScratch(string prefix)
    {
        Directory = Path.Combine("/var/lib/husk-test-scratch", $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)]);
        System.IO.Directory.CreateDirectory(Directory);
        File.SetUnixFileMode("/var/lib/husk-test-scratch", (UnixFileMode)0x1ed);
        File.SetUnixFileMode(Directory, (UnixFileMode)0x1ed);
        string rootfs = Path.Combine(Directory, "rootfs");
        foreach (string d in new[] { "bin", "etc", "proc", "sys", "dev", "tmp", "root" })
            System.IO.Directory.CreateDirectory(Path.Combine(rootfs, d));
        File.Copy(OciBundle.Busybox!, Path.Combine(rootfs, "bin", "busybox"));
        foreach (string applet in new[] { "sh", "cat", "echo", "sleep", "id", "tty", "true", "touch", "mkdir", "chown", "grep", "ps" })
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        File.WriteAllText(Path.Combine(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc", "group"), "root:x:0:\n");
        Tarball = Path.Combine(Directory, "busybox-rootfs.tar");
        var tar = TestEnvironment.Exec("tar", ["-C", rootfs, "--numeric-owner", "--owner=0", "--group=0", "-cf", Tarball, "."]);
        Assert.True(tar.Code == 0, tar.Stderr);
        File.SetUnixFileMode(Tarball, (UnixFileMode)0x1a4);
    }

    public string Directory { get; }

    /// <summary>A rootfs of busybox-static as a tar archive, for <c>podman import</c>.</summary>
    public string Tarball { get; }

    /// <summary>Whether <paramref name="tool"/> is on PATH (engines and their helpers).</summary>
    public static bool Installed(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Concat(["/usr/sbin", "/sbin"])
            .Any(d => File.Exists(Path.Combine(d, tool)));

    /// <summary>Processes whose command line names this directory or whose root is beneath it (containers), but not this one.</summary>
    public List<int> Processes()
    {
        var found = new List<int>();
        foreach (string dir in System.IO.Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) || pid == Environment.ProcessId)
                continue;
            try
            {
                string cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                string? root = new FileInfo(Path.Combine(dir, "root")).LinkTarget;
                if (cmdline.Contains(Directory, StringComparison.Ordinal) || root?.StartsWith(Directory + "/", StringComparison.Ordinal) == true)
                    found.Add(pid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // gone while we looked, or a kernel thread
            }
        }
        return found;
    }

    /// <summary>The host's mounts beneath this directory.</summary>
    public string[] Mounts() => [.. TestEnvironment.HostMounts().Split('\n').Where(l => l.Contains(Directory, StringComparison.Ordinal))];

    /// <summary>
    /// What the engine left: processes (after waiting for those that are ending, such as podman's
    /// cleanup that conmon starts when a container exits) and mounts. Empty when nothing is left.
    /// </summary>
    public string[] Leftovers()
    {
        var wait = System.Diagnostics.Stopwatch.StartNew();
        List<int> processes;
        while ((processes = Processes()).Count > 0 && wait.Elapsed < TimeSpan.FromSeconds(20))
            Thread.Sleep(100);
        return [.. processes.Select(p => $"process {p}: {ReadCmdline(p)}"), .. Mounts().Select(m => "mount: " + m)];
    }

    /// <summary>The containers husk-runtime still keeps in <paramref name="root"/> whose bundle is beneath this directory.</summary>
    public string[] RuntimeStates(string root) =>
    [
        .. (System.IO.Directory.Exists(root) ? System.IO.Directory.GetDirectories(root) : [])
            .Where(d => File.Exists(Path.Combine(d, "state.json")) && File.ReadAllText(Path.Combine(d, "state.json")).Contains(Directory + "/", StringComparison.Ordinal))
            .Select(d => "husk-runtime state: " + d),
    ];

    private static string ReadCmdline(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "(gone)";
        }
    }

    /// <summary>Kills what a failed test left (found as above, each by its pidfd) and deletes the directory.</summary>
    public void Dispose()
    {
        foreach (int pid in Processes())
        {
            using var pidfd = PidfdOpen(pid);
            if (pidfd is not null)
                PidfdSendSignal(pidfd, Signals.SIGKILL);
        }
        foreach (string mount in Mounts().Select(m => m.Split(' ')[4]).OrderByDescending(m => m.Length))
            TestEnvironment.Exec("umount", ["-l", mount]);
        TestEnvironment.DeleteTree(Directory);
    }

    /// <summary>One word for sh -c: single-quoted.</summary>
    public static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
