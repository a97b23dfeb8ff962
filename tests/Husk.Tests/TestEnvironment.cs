using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Husk.Tests;

/// <summary>Where the built binaries are, and small helpers shared by the integration tests.</summary>
internal static class TestEnvironment
{
    public static readonly string Artifacts = FindArtifacts();

    /// <summary>The repository (or the staged copy of what tests need from it: docs/).</summary>
    public static string Repository => Environment.GetEnvironmentVariable("HUSK_REPOSITORY") is { Length: > 0 } r ? r : Path.GetDirectoryName(Artifacts)!;

    /// <summary>The NativeAOT CLI (artifacts/bin/husk).</summary>
    public static string Husk => Path.Combine(Artifacts, "bin", "husk");

    /// <summary>The probe run inside sandboxes (artifacts/probe/husk-probe).</summary>
    public static string Probe => Path.Combine(Artifacts, "probe", "husk-probe");

    public static bool IsRoot => Environment.UserName == "root" || GetEuid() == 0;

    public static uint Uid => GetUid();

    public static uint Gid => GetGid();

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "geteuid")]
    private static extern uint GetEuid();

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getuid")]
    private static extern uint GetUid();

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "getgid")]
    private static extern uint GetGid();

    private static string FindArtifacts()
    {
        if (Environment.GetEnvironmentVariable("HUSK_ARTIFACTS") is { Length: > 0 } env)
            return env;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Husk.slnx")))
                return Path.Combine(dir.FullName, "artifacts");
        }
        throw new InvalidOperationException("artifacts not found: set HUSK_ARTIFACTS or run from the repository");
    }

    /// <summary>The host's environment as NAME=VALUE entries.</summary>
    public static System.Collections.Immutable.ImmutableArray<string> HostEnvironment() =>
        [.. Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>().Select(e => $"{e.Key}={e.Value}")];

    /// <summary>
    /// A low-level spec for engine tests: exactly these mounts (the host tree read-only, fresh /proc,
    /// /dev and /tmp), every namespace but time, and no seccomp, Landlock or nesting walls unless a
    /// test adds them.
    /// </summary>
    public static SandboxSpec Spec(params string[] command) => new()
    {
        Command = [.. command],
        FileSystem = FileSystemSpec.Bare,
        Seccomp = SeccompSpec.None,
        Landlock = LandlockSpec.Off,
        NestedUserNamespaces = NestedUserNamespaces.Allow,
        Environment = HostEnvironment(),
        Hostname = "husk-test",
        Mounts =
        [
            new BindMount("/", "/") { ReadOnly = true },
            new ProcMount("/proc"),
            new DevMount("/dev"),
            new TmpfsMount("/tmp") { Mode = FileModes.SharedSticky },
        ],
    };

    /// <summary>Runs a command in a sandbox, capturing stdout (the payload writes to a pipe).</summary>
    public static (SandboxExit Exit, string Stdout) Run(SandboxSpec spec)
    {
        var (read, write) = Interop.Interop.Pipe();
        using (read)
        {
            spec = spec with { Fds = [.. spec.Fds, new FdMapping(Descriptors.Borrow(write.Fd), 1)] };
            SandboxProcess process;
            using (write)
                process = global::Husk.Launch.Launcher.Start(spec);
            using (process)
            {
                using var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(read.Release(), true), FileAccess.Read);
                string output = new StreamReader(stream, Encoding.UTF8).ReadToEnd();
                return (process.WaitForExit(), output);
            }
        }
    }
    /// <summary>
    /// Starts <paramref name="spec"/> with <paramref name="start"/> (a cold launch, a pool's start),
    /// its fd 0 and fd 1 pipes whose other ends the test holds: the run's only copies of the
    /// sandbox's ends are closed once it has started, so the output ends with the sandbox.
    /// </summary>
    public static PipedRun StartPiped(SandboxSpec spec, Func<SandboxSpec, SandboxProcess> start)
    {
        var (inRead, inWrite) = Interop.Interop.Pipe();
        var (outRead, outWrite) = Interop.Interop.Pipe();
        spec = spec with { Fds = [.. spec.Fds, new FdMapping(Descriptors.Borrow(inRead.Fd), 0), new FdMapping(Descriptors.Borrow(outWrite.Fd), 1)] };
        SandboxProcess process;
        using (inRead)
        using (outWrite)
            process = start(spec);
        return new PipedRun(process, inWrite, new StreamReader(new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(outRead.Release(), true), FileAccess.Read)));
    }

    /// <summary>A sandbox started by <see cref="StartPiped"/>, with the test's ends of its standard input and output.</summary>
    public sealed record PipedRun(SandboxProcess Process, Interop.SafeFd Input, StreamReader Output) : IDisposable
    {
        /// <summary>Closes the sandbox's standard input (end of file for it).</summary>
        public void CloseInput() => Input.Dispose();

        /// <summary>Writes <paramref name="text"/> to the sandbox's standard input.</summary>
        public unsafe void Write(string text)
        {
            byte[] data = Encoding.UTF8.GetBytes(text);
            fixed (byte* p = data)
                Assert.Equal(data.Length, (int)Interop.Interop.Write(Input.Fd, p, (nuint)data.Length));
        }

        public void Dispose()
        {
            Input.Dispose();
            Output.Dispose();
            Process.Dispose();
        }
    }


    /// <summary>Runs the probe in a sandbox made from <paramref name="spec"/> and parses what it saw.</summary>
    public static JsonElement RunProbe(SandboxSpec spec, params string[] args)
    {
        var (exit, output) = Run(spec with { Command = [Probe, .. args] });
        Assert.Equal(0, exit.ExitCode);
        return JsonDocument.Parse(output).RootElement;
    }

    /// <summary>Runs a shell script (as root) in a private mount namespace of its own, whose mounts never reach the host's.</summary>
    public static (int Code, string Stdout, string Stderr) InPrivateMountNamespace(string script) =>
        Exec("unshare", ["-m", "--propagation", "private", "/bin/sh", "-c", script]);

    /// <summary>Runs a program to completion and returns its exit code, stdout and stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Exec(string file, IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? env = null, int timeoutMs = 60_000, string? cwd = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = cwd ?? "",
        };
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        if (env is not null)
        {
            foreach (var (k, v) in env)
                psi.Environment[k] = v;
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
            p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in {timeoutMs} ms");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>The host's own mount table, to check that nothing leaked into it.</summary>
    public static string HostMounts() => File.ReadAllText("/proc/self/mountinfo");

    /// <summary>A scratch home directory with secrets (.ssh/id_ed25519, .netrc) and an ordinary notes.txt.</summary>
    public static string HomeWithSecrets()
    {
        string home = ScratchDirectory("home");
        Directory.CreateDirectory(Path.Combine(home, ".ssh"));
        File.WriteAllText(Path.Combine(home, ".ssh", "id_ed25519"), "SECRET KEY\n");
        File.WriteAllText(Path.Combine(home, ".netrc"), "machine example password hunter2\n");
        File.WriteAllText(Path.Combine(home, "notes.txt"), "public\n");
        return home;
    }

    public static int OpenFdCount() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    /// <summary>Deletes a tree as Husk does (never following a link), including what overlayfs leaves unreadable (its work/work is mode 000).</summary>
    public static void DeleteTree(string dir) => global::Husk.FileSystem.FileTree.Delete(dir);

    /// <summary>This process's descriptors as "fd -> what it names".</summary>
    public static HashSet<string> OpenFds()
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (string fd in Directory.GetFileSystemEntries("/proc/self/fd"))
        {
            try
            {
                // A descriptor closed between the listing and the readlink has no target: skip it.
                // The runtime maps assemblies as it loads them: those are not ours to count.
                if (new FileInfo(fd).LinkTarget is { Length: > 0 } target && !target.EndsWith(".dll", StringComparison.Ordinal))
                    set.Add($"{Path.GetFileName(fd)} -> {target}");
            }
            catch (IOException)
            {
                // closed while we looked
            }
        }
        return set;
    }

    /// <summary>
    /// Descriptors open now that were not before. Closed ones do not count, and a sandbox whose
    /// husk-init is still exiting holds its pidfd until the background reap: wait a little for those.
    /// </summary>
    public static string[] NewFds(HashSet<string> before)
    {
        string[] fresh = [];
        for (int i = 0; i < 50; i++)
        {
            fresh = [.. OpenFds().Where(f => !before.Contains(f))];
            if (fresh.Length == 0)
                break;
            Thread.Sleep(100);
        }
        return fresh;
    }

    /// <summary>
    /// A fresh directory a sandbox can see: not under /tmp, /var/tmp or /run, which husk run
    /// replaces (under $HOME, which tests/run points at a staging directory).
    /// </summary>
    public static string ScratchDirectory(string prefix)
    {
        string? home = Environment.GetEnvironmentVariable("HOME");
        string root = home is { Length: > 1 } && !home.StartsWith("/tmp", StringComparison.Ordinal) && Directory.Exists(home)
            ? Path.Combine(home, "scratch")
            : "/var/lib/husk-test-scratch";
        Directory.CreateDirectory(root);
        string dir = Path.Combine(root, $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 9)]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}
