using System.Text;
using System.Text.RegularExpressions;

namespace Husk.Tests.Mkosi;

/// <summary>
/// Runs one mkosi-sandbox command line (Husk's, or sandbox.py as the reference) against a fresh
/// fixture directory, with a payload that reports what it sees, and normalises the report so
/// that two implementations can be compared line by line.
/// </summary>
internal static partial class MkosiHarness
{
    /// <summary>The options every case starts with: /usr and the usual links, the host's /proc.</summary>
    public static readonly string[] Base =
        ["--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--bind", "/proc", "/proc"];

    /// <summary>Placeholder for the fixture directory in a case's arguments and script.</summary>
    public const string Fixture = "@F";

    /// <summary>Placeholder for the implementation under test's own command line (for nesting).</summary>
    public const string Runner = "@RUNNER";

    /// <summary>
    /// The payload: a POSIX shell script printing sections. Extra lines from the case run last;
    /// the paths after the script are listed with find.
    /// </summary>
    public const string Report = """
        echo "## id"; id
        echo "## status"; grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|SigIgn|SigBlk):' /proc/self/status
        echo "## maps"; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups
        echo "## ns"; for n in user mnt net ipc uts pid cgroup; do echo "$n $(readlink /proc/self/ns/$n)"; done
        echo "## cwd"; pwd -P
        echo "## umask"; umask
        echo "## env"; env | LC_ALL=C sort
        echo "## fds"; for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done
        echo "## net"; ip -o link 2>&1 | sed -E 's/^[0-9]+: ([^:@]+).*state ([A-Z]+).*/\1 \2/'
        echo "## mounts"; cat /proc/self/mountinfo
        echo "## tree"; for p in "$@"; do find "$p" -printf '%p %m %u:%g %y %l\n' 2>&1 | LC_ALL=C sort; done
        echo "## case"
        """;

    /// <summary>How one run ended and what it printed, normalised.</summary>
    public sealed record Outcome(int Status, string Stdout, string Stderr)
    {
        /// <summary>A short form for assertion messages.</summary>
        public override string ToString() => $"status {Status}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    /// <summary>Husk's personality: the mkosi-sandbox hard link next to husk.</summary>
    public static string[] Husk => [Path.Combine(TestEnvironment.Artifacts, "bin", "mkosi-sandbox")];

    /// <summary>sandbox.py run by Python, when MKOSI_SANDBOX_PY names it; null otherwise.</summary>
    public static string[]? Reference =>
        Environment.GetEnvironmentVariable("MKOSI_SANDBOX_PY") is { Length: > 0 } py
            ? [Environment.GetEnvironmentVariable("MKOSI_PYTHON") is { Length: > 0 } python ? python : "python3", py]
            : null;

    /// <summary>
    /// Runs <paramref name="runner"/> with the case's options and the report payload in a fresh
    /// fixture (or with <paramref name="command"/> instead of the payload), under a small wrapper
    /// that gives the payload descriptors 5 and 7 and reports a death by signal as -N.
    /// </summary>
    public static Outcome Run(string[] runner, MkosiCase c)
    {
        string fixture = CreateFixture();
        try
        {
            string F(string s) => s.Replace(Runner, string.Join(' ', runner), StringComparison.Ordinal).Replace(Fixture, fixture, StringComparison.Ordinal);
            var argv = new List<string>(runner);
            argv.AddRange(Base);
            argv.AddRange(c.Options.Select(F));
            if (c.Command is { } command)
                argv.AddRange(command.Select(F));
            else
                argv.AddRange(["sh", "-c", Report + "\n" + F(c.Script), "report", .. c.List.Select(F)]);
            // The runner inherits descriptors 5 and 7 (and ExtraFds more from 100 up), as a caller
            // of mkosi-sandbox passes them: open across exec.
            string wrapper = "import os, subprocess, sys\n" +
                "a = os.open('/dev/null', os.O_RDONLY); os.dup2(a, 5); b = os.open('/proc/version', os.O_RDONLY); os.dup2(b, 7)\n" +
                $"extra = list(range(100, 100 + {c.ExtraFds}))\n" +
                "for fd in extra: os.dup2(a, fd)\n" +
                "os.close(a); os.close(b)\n" +
                "r = subprocess.run(sys.argv[1:], pass_fds=(5, 7, *extra), stdin=subprocess.DEVNULL)\n" +
                "print('STATUS', r.returncode, file=sys.stderr)\n";
            var env = new Dictionary<string, string> { ["LC_ALL"] = "C", ["MKOSI_TEST_VAR"] = "host value" };
            var (_, stdout, stderr) = TestEnvironment.Exec("python3", ["-c", wrapper, .. argv], env: env, cwd: c.WorkingDirectory is { } wd ? F(wd) : fixture);
            var m = StatusLine().Match(stderr);
            int status = m.Success ? int.Parse(m.Groups[1].Value) : int.MinValue;
            stderr = StatusLine().Replace(stderr, "");
            return new Outcome(status, Normalize(stdout, fixture), NormalizeErrors(stderr, fixture));
        }
        finally
        {
            MakeRemovable(fixture);
            TestEnvironment.DeleteTree(fixture);
        }
    }

    /// <summary>A directory tree every case may use: files, a symlink, overlay layers.</summary>
    private static string CreateFixture()
    {
        string f = Directory.CreateTempSubdirectory("husk-mkosi-").FullName;
        File.SetUnixFileMode(f, (UnixFileMode)0x1ED);
        Directory.CreateDirectory(Path.Combine(f, "sub"));
        File.WriteAllText(Path.Combine(f, "file"), "host file\n");
        File.WriteAllText(Path.Combine(f, "sub", "inner"), "inner\n");
        File.CreateSymbolicLink(Path.Combine(f, "link"), "file");
        File.CreateSymbolicLink(Path.Combine(f, "dangling"), "nowhere");
        foreach (string layer in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(f, layer));
            File.WriteAllText(Path.Combine(f, layer, "f" + layer), layer + "\n");
            File.WriteAllText(Path.Combine(f, layer, "both"), layer + "\n");
        }
        Directory.CreateDirectory(Path.Combine(f, "upper"));
        Directory.CreateDirectory(Path.Combine(f, "work"));
        foreach (string entry in Directory.EnumerateFileSystemEntries(f, "*", SearchOption.AllDirectories).Append(f))
        {
            if (new FileInfo(entry).LinkTarget is null)
                File.SetUnixFileMode(entry, Directory.Exists(entry) ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4);
        }
        return f;
    }

    /// <summary>An overlay's work directory may hold a mode-000 directory made by the kernel.</summary>
    private static void MakeRemovable(string dir)
    {
        foreach (string d in Directory.EnumerateDirectories(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 }))
        {
            try
            {
                if (new FileInfo(d).LinkTarget is null)
                    File.SetUnixFileMode(d, (UnixFileMode)0x1C0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        TestEnvironment.Exec("chmod", ["-R", "u+rwX", dir]);
    }

    /// <summary>Removes what legitimately differs between two runs: ids of mounts and devices, inode numbers, the fixture path.</summary>
    internal static string Normalize(string report, string fixture)
    {
        var hostNs = new Dictionary<string, string>();
        foreach (string ns in new[] { "user", "mnt", "net", "ipc", "uts", "pid", "cgroup" })
            hostNs[ns] = new FileInfo($"/proc/self/ns/{ns}").LinkTarget ?? "";
        var output = new StringBuilder();
        string section = "";
        var env = new List<string>();
        foreach (string raw in report.Replace(fixture, Fixture, StringComparison.Ordinal).Split('\n'))
        {
            string line = raw;
            if (line.StartsWith("## ", StringComparison.Ordinal))
            {
                FlushEnv(output, env);
                section = line[3..];
                output.AppendLine(line);
                continue;
            }
            switch (section)
            {
                case "ns":
                {
                    string[] p = line.Split(' ', 2);
                    if (p.Length == 2)
                        line = $"{p[0]} {(p[1] == hostNs.GetValueOrDefault(p[0]) ? "host" : "new")}";
                    break;
                }
                case "env":
                    // The order of the environment is not compared (sort in the payload already);
                    // LISTEN_PID is checked against the payload's own pid by the case itself.
                    if (line.StartsWith("LISTEN_PID=", StringComparison.Ordinal))
                        line = "LISTEN_PID=<pid>";
                    if (line.StartsWith("_=", StringComparison.Ordinal))
                        continue;
                    env.Add(line);
                    continue;
                case "fds":
                    line = Inode().Replace(line, "$1");
                    break;
                case "mounts":
                    line = NormalizeMount(line);
                    break;
            }
            if (line.Length > 0 || section == "case")
                output.AppendLine(line);
        }
        FlushEnv(output, env);
        return output.ToString().TrimEnd('\n');
    }

    private static void FlushEnv(StringBuilder output, List<string> env)
    {
        env.Sort(StringComparer.Ordinal);
        foreach (string e in env)
            output.AppendLine(e);
        env.Clear();
    }

    /// <summary>"id parent maj:min root mountpoint opts [tags] - type source super" without the ids; overlay layer paths dropped.</summary>
    internal static string NormalizeMount(string line)
    {
        string[] f = line.Split(' ');
        int dash = Array.IndexOf(f, "-");
        if (f.Length < 6 || dash < 0 || dash + 2 >= f.Length)
            return line;
        string tags = string.Join(',', f[6..dash].Select(t => t.Split(':')[0]));
        string super = dash + 3 < f.Length ? f[dash + 3] : "";
        if (f[dash + 1] == "overlay")
        {
            super = string.Join(',', super.Split(',').Where(o =>
                !o.StartsWith("lowerdir", StringComparison.Ordinal) && !o.StartsWith("upperdir", StringComparison.Ordinal)
                && !o.StartsWith("workdir", StringComparison.Ordinal) && !o.StartsWith("datadir", StringComparison.Ordinal)));
        }
        return $"{f[3]} {f[4]} {f[5]} [{tags}] {f[dash + 1]} {f[dash + 2]} {super}";
    }

    private static string NormalizeErrors(string stderr, string fixture) =>
        stderr.Replace(fixture, Fixture, StringComparison.Ordinal).TrimEnd('\n');

    [GeneratedRegex(@"^STATUS (-?\d+)\n?", RegexOptions.Multiline)]
    private static partial Regex StatusLine();

    [GeneratedRegex(@"((?:pipe|socket|anon_inode):)\[?\d+\]?")]
    private static partial Regex Inode();

    /// <summary>Lines that differ between two normalised reports, for an assertion message.</summary>
    public static string Diff(string expected, string actual)
    {
        string[] a = expected.Split('\n'), b = actual.Split('\n');
        var sb = new StringBuilder();
        var onlyA = a.Except(b).ToList();
        var onlyB = b.Except(a).ToList();
        foreach (string l in onlyA)
            sb.AppendLine("- " + l);
        foreach (string l in onlyB)
            sb.AppendLine("+ " + l);
        if (onlyA.Count == 0 && onlyB.Count == 0)
            sb.AppendLine("(same lines, different order)");
        return sb.ToString();
    }
}

/// <summary>
/// One mkosi-sandbox command line to compare. <see cref="Options"/> follow the base options;
/// @F names the fixture directory. Without <see cref="Command"/>, the payload is the report
/// script plus <see cref="Script"/>, listing <see cref="List"/>.
/// </summary>
public sealed record MkosiCase(string Name)
{
    public string[] Options { get; init; } = [];
    public string Script { get; init; } = "";
    public string[] List { get; init; } = [];
    public string[]? Command { get; init; }
    /// <summary>The working directory of the caller (default: the fixture).</summary>
    public string? WorkingDirectory { get; init; }
    /// <summary>Only stderr's presence is compared: sandbox.py prints Python tracebacks.</summary>
    public bool ErrorTextDiffers { get; init; }
    /// <summary>Who the case applies to.</summary>
    public CaseMode Mode { get; init; }
    /// <summary>How many more descriptors (from 100 up) the caller passes, besides 5 and 7.</summary>
    public int ExtraFds { get; init; }

    public override string ToString() => Name;
}
