using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Husk.Cli.Personalities.Mbox;
using Husk.FileSystem;
using Husk.Layers;
using Husk.Launch;
using Husk.Tracing;

namespace Husk.Cli.Personalities;

/// <summary>
/// The mbox personality: tsgates/mbox (the ATC'13 sandbox, version 4.7 of its strace base) on the
/// Husk engine. mbox redirected every path syscall into a sandbox directory with ptrace; here the
/// host is overlaid instead (one overlay per directory that can be overlaid whole), which keeps
/// mbox's promise (the program sees the host and believes it changes it) without redirecting
/// paths. Same options, profile format, "Sandbox Root:" listing, one-key prompt and exit statuses;
/// -c and -d count and trace system calls with Husk's tracer, in mbox's output (strace 4.7's),
/// and the "Network Summary:" lists the sockets and connections the tracer saw.
/// </summary>
internal static class MboxPersonality
{
    /// <summary>What mbox -V reports (its configure.ac).</summary>
    public const string Version = "4.7";

    private const string Meta = "mbox.meta";

    public static int Run(string argv0, string[] args)
    {
        string name = Path.GetFileName(argv0);
        MboxArguments a;
        try
        {
            a = MboxArguments.Parse(args);
        }
        catch (MboxUsage e)
        {
            // getopt's line, as mbox prints it, and where to look instead of the whole usage.
            StandardError.WriteLine($"{name}: {e.Message} (see {name} -h)");
            return 1;
        }
        if (a.Help)
        {
            MboxReview.Out(MboxArguments.Usage(name));
            return 0;
        }
        if (a.Version)
        {
            MboxReview.Out($"mbox -- version {Version}\n");
            return 0;
        }
        if (a.Command.Count == 0)
        {
            StandardError.Write(MboxArguments.Usage(name));
            return 1;
        }
        try
        {
            return Sandbox(name, a);
        }
        catch (MboxFailure e)
        {
            StandardError.WriteLine($"{name}: {e.Message}");
            return 1;
        }
    }

    private sealed class MboxFailure(string message) : Exception(message);

    private static int Sandbox(string name, MboxArguments a)
    {
        if (a.ChangeDirectory is { } cd)
        {
            try
            {
                Directory.SetCurrentDirectory(cd);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MboxFailure($"failed to chdir to {cd}: {ErrorText.Reason(e)}");
            }
        }
        // Before the root exists: a refused profile leaves nothing behind.
        var profile = a.Profile is { } p ? LoadProfile(p) : new MboxProfile();
        // -n turns the network off: a rule that lets something through cannot hold there.
        if (a.NoNetwork && profile.Network.FirstOrDefault(r => r.Action is MboxNetworkAction.Allow or MboxNetworkAction.Log) is { } open)
            throw new MboxFailure($"{a.Profile}:{open.Line}: {open.Action.ToString().ToLowerInvariant()}: -n turns the network off, so this [network] rule cannot let anything through: drop -n or the rule");

        // mbox's default root, /tmp/sandbox-PID, is removed at the end unless changes are kept in
        // it; a root named with -r is the user's, and is made when it does not exist yet.
        bool temporary = a.Root is null;
        string rootDir = a.Root is { } r ? (r.Length > 1 ? r.TrimEnd('/') : r) : $"/tmp/sandbox-{Environment.ProcessId}";
        SandboxRoot root;
        try
        {
            root = SandboxRoot.CreateOrOpen(rootDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MboxFailure($"Failed to access {rootDir}: {ErrorText.Detail(e, rootDir)}");
        }
        int kept = -1; // changes left in the root; -1 when the run did not get that far
        try
        {
            return Session(name, a, root, profile, out kept);
        }
        finally
        {
            if (kept < 0)
                kept = root.Changes().Count;
            if (kept > 0)
                StandardError.WriteLine($"{name}: {kept} change(s) kept in {root.Path}: husk changes {root.Path} lists them, husk commit {root.Path} applies them");
            else if (temporary)
                root.Delete();
        }
    }

    /// <summary>Reads -p's profile and refuses what Husk cannot enforce, before anything runs.</summary>
    private static MboxProfile LoadProfile(string file)
    {
        MboxProfile profile;
        try
        {
            profile = MboxProfile.Load(file);
        }
        catch (MboxProfileException e)
        {
            throw new MboxFailure(e.Message);
        }
        return profile;
    }

    private static int Session(string name, MboxArguments a, SandboxRoot root, MboxProfile profile, out int kept)
    {
        kept = -1;
        string hpwd = Directory.GetCurrentDirectory();
        if (a.Test && !CheckConditions(a.Command[0], "pre", root, hpwd))
            return 1;

        bool fuse = a.FakeRoot && Interop.Interop.GetUid() != 0;
        string? fuseOverlayfs = fuse ? FindOnPath("fuse-overlayfs") : null;
        if (fuse && fuseOverlayfs is null)
        {
            StandardError.WriteLine($"{name}: -R: fuse-overlayfs is not installed (Debian: apt install fuse-overlayfs), so files of other users, root's included, stay read-only in the sandbox; as root they do not");
            fuse = false;
        }
        else if (fuse && Interop.Interop.Access("/dev/fuse", 6) != 0)
        {
            StandardError.WriteLine($"{name}: -R: /dev/fuse is not open to this user, so fuse-overlayfs cannot run: files of other users, root's included, stay read-only in the sandbox; as root they do not");
            fuse = false;
        }
        if (a.FakeRoot && Interop.Interop.GetUid() != 0 && UnreadableRootFile(a.Command[0]) is { } blocker)
        {
            // Neither overlay can copy into the sandbox what this user cannot read, nor can subordinate
            // ids help (root's files stay root's): only root's sandbox sees them as its root's.
            StandardError.WriteLine($"{name}: -R: {blocker} is root's and this user cannot read it, so {Path.GetFileName(a.Command[0])} cannot open it in the sandbox: run mbox as root");
        }

        SandboxSpec Spec(IReadOnlyList<string> command) => BuildSpec(a, root, profile, command, fuse);
        var spec = Spec(a.Command);
        if (a.Debug)
        {
            StandardError.WriteLine($"{name}: {spec.FileSystem}");
            foreach (var op in spec.Mounts)
                StandardError.WriteLine($"{name}: {op}");
        }

        spec = spec with { Trace = Tracing(a) };
        var network = new List<string>();
        Task? summary = null;
        int status;
        SandboxResult result;
        SandboxProcess? process = null;
        try
        {
            result = SandboxRunner.RunToResult(spec, started: p =>
            {
                process = p;
                summary = CollectNetwork(p, network);
                // Files directly in a working directory the overlay could not take whole stay read-only: said once.
                if (p.Layout?.OverlayPlan.ReadOnlyNote(Directory.GetCurrentDirectory()) is { } note)
                    StandardError.WriteLine("mbox: " + note);
            });
            status = result.ShellStatus;
        }
        catch (SandboxSpecException e)
        {
            throw new MboxFailure(e.Problems[0]);
        }
        catch (SandboxSetupException e)
        {
            StandardError.WriteLine($"{name}: {e.Message}");
            return Husk.Cli.Run.RunCommand.ExitCodeFor(e);
        }
        finally
        {
            process?.Layout?.PruneLayers();
        }
        Interop.Interop.TakeTerminalForeground(0);
        summary?.GetAwaiter().GetResult();
        if (a.CountCalls)
            WriteOutput(name, a.OutputFile, SyscallCountTable.Text(result.SyscallCounts, totalPerCall: false));

        if (a.Test && !CheckConditions(a.Command[0], "post", root, hpwd))
            return 1;

        StandardError.WriteLine("Network Summary:");
        StandardError.WriteLine(a.NoNetwork
            ? " > none: a network namespace of its own (loopback only)"
            : profile.Network.Count > 0 ? " > filtered by the profile's [network] rules" : " > shared with the host");
        // What the tracer saw the program do, then what the supervisor let through or refused.
        if (result.Network is { Events.Count: > 0 } seen)
            network.AddRange(Husk.Network.NetworkSummary.Lines(seen, seen.Mode));
        foreach (string line in network)
            StandardError.WriteLine(line);

        var manifest = a.Md5 ? RecordOriginals(root) : null;
        kept = root.Changes().Count;
        if (!a.Interactive || kept == 0)
            return status; // nothing to review: the session is skipped

        var review = new MboxReview(root.Path,
            () => MarkConflicts(root.Changes(), manifest),
            () =>
            {
                string shell = Environment.GetEnvironmentVariable("SHELL") is { Length: > 0 } s ? s : "/bin/sh";
                try
                {
                    return SandboxRunner.Run(Spec([shell])).ShellStatus;
                }
                catch (SandboxSetupException e)
                {
                    StandardError.WriteLine($"{name}: {e.Message}");
                    return 1;
                }
            },
            changes => Committer.Apply(changes, "/", force: false, recursive: true));
        bool finished = review.Run();
        kept = review.Kept;
        return finished ? status : 0;
    }

    /// <summary>
    /// What the tracer does for mbox: always the sockets and connections for the network summary
    /// (only socket and connect stop the program); with -d every call, in mbox's lines, to stderr
    /// or -o's file; with -c every call counted (and, as in mbox, no -d lines).
    /// </summary>
    private static TraceSpec Tracing(MboxArguments a)
    {
        bool all = a.CountCalls || a.Trace;
        bool lines = a.Trace && !a.CountCalls;
        return new TraceSpec
        {
            Syscalls = all ? SyscallSet.All : SyscallSet.Parse("socket,connect"),
            Events = true,
            Count = a.CountCalls,
            Format = TraceFormat.Mbox,
            Output = lines && a.OutputFile is null ? Descriptors.Borrow(2) : null,
            OutputFile = lines ? a.OutputFile : null,
        };
    }

    /// <summary>mbox's network summary from the traced calls: " > [pid] Create socket(PF_INET,...)", " > [pid] -> 1.2.3.4:80".</summary>
    private static Task CollectNetwork(SandboxProcess process, List<string> lines) => Task.Run(async () =>
    {
        await foreach (var e in process.Events.ConfigureAwait(false))
        {
            if (e.Kind != TraceEventKind.Syscall || e.Arguments.IsDefaultOrEmpty)
                continue;
            string family = e.Arguments[0].Text;
            if (e.Name == "socket" && family is "AF_INET" or "AF_INET6" or "AF_NETLINK")
                lines.Add($" > [{e.Pid}] Create socket(PF_{family[3..]},...)");
            else if (e.Name == "connect" && e.Arguments.Length > 1 && e.Arguments[1].Text.StartsWith("{sa_family=AF_INET", StringComparison.Ordinal) && e.Arguments[1].Value is { } address)
                lines.Add($" > [{e.Pid}] -> {address}");
        }
    });

    /// <summary>-c's summary to stderr, or to -o's file.</summary>
    private static void WriteOutput(string name, string? file, string text)
    {
        if (file is null)
        {
            StandardError.Write(text);
            return;
        }
        try
        {
            File.AppendAllText(file, text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            StandardError.WriteLine($"{name}: {file}: {ErrorText.Detail(e, file)}");
        }
    }

    private static SandboxSpec BuildSpec(MboxArguments a, SandboxRoot root, MboxProfile profile, IReadOnlyList<string> command, bool fuse)
    {
        bool userRange = a.FakeRoot && HasSubordinateIds();
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Husk.Launch.CallerEnvironment.Current().Concat(a.Environment.Where(e => e.IndexOf('=') > 0)).Select(Husk.Launch.CallerEnvironment.Split))
            env[key] = value;
        return new SandboxSpec
        {
            Command = [.. command],
            Namespaces = NamespaceKinds.User | NamespaceKinds.Mount | NamespaceKinds.Pid | (a.NoNetwork || profile.Network.Count > 0 ? NamespaceKinds.Net : 0),
            Network = NetworkOf(a, profile),
            Identity = a.FakeRoot ? Identity.Root with { Mapping = userRange ? IdMapping.SubordinateRange : IdMapping.Auto } : new Identity(),
            // mbox's view: the host's tree through overlays whose layers live in the root, /tmp and
            // /run overlaid too, the profile's hide: and allow: applied; its direct: paths bound through.
            FileSystem = FileSystemSpec.HostOverlay(root.Path) with
            {
                OverlayVolatile = true,
                Hidden = [.. profile.Hide],
                Allowed = [.. profile.Allow],
                Driver = fuse ? OverlayDriver.FuseSquashedToRoot : OverlayDriver.Kernel,
            },
            Mounts = [.. profile.Direct.Select(direct => new BindMount(direct, direct))],
            ShowSecrets = true,
            NestedUserNamespaces = NestedUserNamespaces.Allow,
            Landlock = LandlockSpec.Off,
            Environment = [.. env.Select(kv => $"{kv.Key}={kv.Value}")],
            NewSession = false,
            // In a terminal, a job of its own in the terminal's foreground: a shell inside (the
            // review's [s]hell) gets job control and can give the terminal back when it exits.
            ForegroundTerminal = Interop.Interop.IsInteractiveJob() ? 0 : null,
            // -R: root of its own user namespace with its capabilities (fuse-overlayfs mounts with them).
            // Root's sandbox maps a whole range (apt's _apt exists), and so does a user's with
            // subordinate ids; a user's without them maps only itself, so there chown() and friends
            // succeed without doing anything, as under mkosi's --suppress-chown, or package
            // managers would fail on them.
            Capabilities = a.FakeRoot ? null : CapabilitySet.None,
            Seccomp = a.FakeRoot && Interop.Interop.GetUid() != 0 && !userRange
                ? SeccompSpec.Of(Husk.Policy.SeccompProfiles.SuccessfulNoOps(Husk.Policy.SeccompProfiles.ChownCalls))
                : SeccompSpec.None,
        };
    }

    /// <summary>
    /// mbox's network: -n refuses everything, through the allowlist, so the summary lists what the
    /// program tried; a profile's [network] rules go through it too, with mbox's default (what no
    /// rule names is let through and logged) and its precedence (the most specific rule wins).
    /// Without either, the host's network, as mbox shares it.
    /// </summary>
    private static NetworkSpec NetworkOf(MboxArguments a, MboxProfile profile)
    {
        if (!a.NoNetwork && profile.Network.Count == 0)
            return NetworkSpec.None with { Mode = NetworkMode.Host };
        return new NetworkSpec
        {
            Filter = true,
            DefaultAction = a.NoNetwork ? EgressAction.Refuse : EgressAction.Log,
            Rules = [.. profile.Network.Select(r => r.ToEgressRule())],
        };
    }

    /// <summary>mbox's -t: each "# pre:" (or "# post:") line of the script is a shell command that must succeed.</summary>
    private static bool CheckConditions(string script, string key, SandboxRoot root, string hpwd)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(script);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MboxFailure($"fopen: {ErrorText.Reason(e)}");
        }
        foreach (string line in lines)
        {
            if (!line.StartsWith($"# {key}:", StringComparison.Ordinal) && !line.StartsWith($"#{key}:", StringComparison.Ordinal))
                continue;
            string cmd = line[(line.IndexOf(':') + 1)..];
            var psi = new System.Diagnostics.ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add(cmd);
            // The sandbox's view of the working and home directories, in the layer.
            psi.Environment["SPWD"] = Environment.GetEnvironmentVariable("SPWD") ?? root.UpperDir + hpwd;
            psi.Environment["HPWD"] = Environment.GetEnvironmentVariable("HPWD") ?? hpwd;
            if (Environment.GetEnvironmentVariable("HOME") is { } home)
                psi.Environment["SHOME"] = Environment.GetEnvironmentVariable("SHOME") ?? root.UpperDir + home;
            using var p = System.Diagnostics.Process.Start(psi)!;
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                StandardError.WriteLine($"mbox: the {key} condition failed:{cmd}");
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// mbox's -m: the md5 of each host file the sandbox changed, recorded the first time it is
    /// seen (ROOT/mbox.meta, "M:path:md5" lines as mbox's .meta) and printed; a later commit leaves
    /// alone a file whose host content no longer has that sum.
    /// </summary>
    private static Dictionary<string, string> RecordOriginals(SandboxRoot root)
    {
        string file = Path.Join(root.Path, Meta);
        var manifest = new Dictionary<string, string>(StringComparer.Ordinal);
        if (File.Exists(file))
        {
            foreach (string line in File.ReadAllLines(file))
            {
                int last = line.LastIndexOf(':');
                if (line.StartsWith("M:", StringComparison.Ordinal) && last > 2)
                    manifest[line[2..last]] = line[(last + 1)..];
            }
        }
        foreach (var c in root.Changes())
        {
            if (c.HostNode == NodeKind.File && !manifest.ContainsKey(c.Path) && Md5(c.Path) is { } sum)
                manifest[c.Path] = sum;
        }
        File.WriteAllLines(file, manifest.Select(kv => $"M:{kv.Key}:{kv.Value}"));
        if (manifest.Count > 0)
        {
            StandardError.WriteLine("MD5 Sums of original files:");
            foreach (var (path, sum) in manifest)
                StandardError.WriteLine($" > {Review.LayerCommands.Escape(path)} ({sum})");
        }
        return manifest;
    }

    private static List<Change> MarkConflicts(List<Change> changes, Dictionary<string, string>? manifest)
    {
        if (manifest is null)
            return changes;
        return [.. changes.Select(c => !c.Conflict && manifest.TryGetValue(c.Path, out var sum) && Md5(c.Path) is { } now && now != sum
            ? c with { Conflict = true, ConflictReason = "its content changed on the host since the sandbox first changed it (md5)" }
            : c)];
    }

    private static string? Md5(string path)
    {
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return Convert.ToHexStringLower(MD5.HashData(f));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// A user with subordinate ids (/etc/subuid and /etc/subgid, and newuidmap and newgidmap to
    /// map them) gets them mapped under -R, as husk run's --map-subids: chown works for real.
    /// </summary>
    private static bool HasSubordinateIds()
    {
        uint uid = Interop.Interop.GetUid();
        return uid != 0 && SubordinateIds.Find("/etc/subuid", Environment.UserName, uid) is not null &&
            SubordinateIds.Find("/etc/subgid", Environment.UserName, uid) is not null &&
            FindOnPath("newuidmap") is not null && FindOnPath("newgidmap") is not null;
    }

    /// <summary>Lock files package managers must open for writing: root's, mode 0640 (Debian's dpkg and apt).</summary>
    private static readonly Dictionary<string, string[]> PackageManagerLocks = new(StringComparer.Ordinal)
    {
        ["apt-get"] = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/cache/apt/archives/lock"],
        ["apt"] = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/cache/apt/archives/lock"],
        ["aptitude"] = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"],
        ["dpkg"] = ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"],
    };

    /// <summary>The first file a known package manager needs that exists and this user cannot read, or null.</summary>
    private static string? UnreadableRootFile(string program) =>
        PackageManagerLocks.TryGetValue(Path.GetFileName(program), out var files)
            ? files.FirstOrDefault(f => File.Exists(f) && Interop.Interop.Access(f, 4) != 0)
            : null;

    private static string? FindOnPath(string program)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Join(dir, program);
            if (File.Exists(candidate) && Interop.Interop.Access(candidate, 1) == 0)
                return candidate;
        }
        return null;
    }
}
