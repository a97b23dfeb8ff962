using System.Diagnostics;
using System.Globalization;
using System.Text;
using Husk.Cli.Personalities.Try;
using Husk.FileSystem;
using Husk.Layers;
using Husk.Launch;

namespace Husk.Cli.Personalities;

/// <summary>
/// The try personality: binpash/try (commit 68a5fc7, which calls itself 0.2.0) on the Husk
/// engine. Same options, subcommands, messages, prompt and exit statuses, and try's on-disk
/// sandbox layout, which its users and tests read. The overlays come from Husk's planner (one per
/// directory that can be overlaid whole, down to nested mount points), so try's union helpers
/// (mergerfs, unionfs) are never needed; summary and commit use Husk's change set and its
/// openat2-checked committer.
/// </summary>
internal static class TryPersonality
{
    /// <summary>The version try at 68a5fc7 reports.</summary>
    public const string Version = "0.2.0";

    /// <summary>try's own variables, which never reach the command.</summary>
    private static readonly string[] Unset =
    [
        "START_DIR", "SANDBOX_DIR", "UNION_HELPER", "DIRS_AND_MOUNTS", "TRY_EXIT_STATUS", "TRY_COMMAND", "TRY_SHELL",
        "UPDATED_DIRS_AND_MOUNTS", "script_to_execute", "chroot_executable", "try_mount_log",
    ];

    public static int Run(string argv0, string[] args)
    {
        string name = Path.GetFileName(argv0);
        try
        {
            return Dispatch(name, args);
        }
        catch (TryExit e)
        {
            if (e.Usage)
                StandardError.Write(TryArguments.Usage(name));
            else if (!string.IsNullOrEmpty(e.Message))
                StandardError.WriteLine($"{name}: {e.Message}");
            return e.Status;
        }
    }

    private static int Dispatch(string name, string[] argv)
    {
        var a = TryArguments.Parse(argv);
        if (a.Version)
        {
            StandardError.WriteLine($"{name} version {Version}");
            return 0;
        }
        var session = new Session(name, a);
        var rest = a.Rest;
        if (rest.Count == 0)
        {
            if (a.LowerDirs is not null && a.SandboxDir is not null)
            {
                new TrySandbox(Path.GetFullPath(a.SandboxDir)).MaterializeStack(a.Lowers, session.Include, session.Exclude);
                return 0;
            }
            throw new TryExit(2, usage: true);
        }
        string? second = rest.Count > 1 ? rest[1] : null;
        switch (rest[0])
        {
            case "summary":
                return session.Summary(a.SandboxDir ?? second ?? "");
            case "commit":
                a.SandboxDir ??= second ?? "";
                return session.Try(null);
            case "explore":
                a.SandboxDir ??= second ?? "";
                return session.Try([TryShell.Choose()]);
            case "--":
                return session.Try(rest[1..]);
            default:
                return session.Try(rest);
        }
    }

    /// <summary>One invocation: its patterns, its sandbox, its command.</summary>
    private sealed class Session(string name, TryArguments a)
    {
        public TryPatterns Include { get; private set; } = new(a.Include);
        public TryPatterns Exclude { get; } = new(a.Exclude);
        private readonly string _execId = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

        /// <summary>try summary DIR: 0 with changes (printed), 1 without.</summary>
        public int Summary(string dir)
        {
            if (!Directory.Exists(dir))
                throw new TryExit(2, $"could not find directory {dir}");
            var sandbox = new TrySandbox(Path.GetFullPath(dir));
            if (!Directory.Exists(sandbox.UpperDir))
                throw new TryExit(1, $"could not find directory {sandbox.UpperDir}");
            var changes = sandbox.Changes(Include, Exclude);
            if (changes.Count == 0)
                return 1;
            WriteStdout(TrySandbox.Summary(changes));
            return 0;
        }

        /// <summary>try's try(): the command in the sandbox (none for <c>try commit</c>), then what -n, -y, -N or the prompt say.</summary>
        public int Try(IReadOnlyList<string>? command)
        {
            if (a.TraceFile is not null && command is not null)
                throw new TryExit(2, "-t (an ordered log of effects) is not yet supported by husk: it comes with the tracing work");
            string startDir = Directory.GetCurrentDirectory();
            TrySandbox sandbox;
            if (!string.IsNullOrEmpty(a.SandboxDir))
            {
                if (!Directory.Exists(a.SandboxDir))
                    throw new TryExit(2, $"could not find sandbox directory {a.SandboxDir}");
                sandbox = new TrySandbox(TrySandbox.Canonical(Path.GetFullPath(a.SandboxDir)));
            }
            else
            {
                sandbox = TrySandbox.CreateTemporary(_execId);
            }
            if (!sandbox.IsValidOrEmpty())
                throw new TryExit(1, $"given sandbox '{sandbox.Path}' is invalid");
            sandbox.WritePatterns(a);
            sandbox.PrepareLayout();
            var hidden = sandbox.PrepareHideLayer(a.Hide, startDir);

            int status = command is null ? 0 : RunCommand(sandbox, hidden.Count > 0, command);

            switch (a.After)
            {
                case TryAfter.Quiet:
                    return status;
                case TryAfter.Show:
                    WriteStdout(sandbox.Path + "\n");
                    return status;
                case TryAfter.Commit:
                    return sandbox.Commit(sandbox.Changes(Include, Exclude), name);
                default:
                    return Prompt(sandbox, status);
            }
        }

        private int RunCommand(TrySandbox sandbox, bool hides, IReadOnlyList<string> command)
        {
            string shell = TryShell.Choose();
            var lowers = a.Lowers.Select(l => TrySandbox.Canonical(Path.GetFullPath(l))).ToList();
            // try's view: the host's tree through overlays whose layers live in the sandbox directory,
            // /tmp and /run overlaid too, host modes as they are; its hide layer and the -L sandboxes'
            // layers lie above the host (the first -L on top).
            var fileSystem = FileSystemSpec.HostOverlay(sandbox.Path) with
            {
                OverlayVolatile = true,
                HostModes = true,
                ExtraLayers = [.. hides ? [sandbox.HideDir] : Array.Empty<string>(), .. Enumerable.Range(0, lowers.Count).Reverse().Select(i => Path.Join(lowers[i], "upperdir"))],
                LayerRoots = [.. lowers, .. hides ? [sandbox.Path] : Array.Empty<string>()],
            };

            // The command is a script sourced by a little wrapper, as try runs it: TRY_SHELL stays
            // the process (no exec of the last command) and sees the words joined by spaces.
            string script = sandbox.Path + "/script_to_execute.sh";
            string wrapper = sandbox.Path + "/chroot_executable.sh";
            string oldPwd = Environment.GetEnvironmentVariable("OLDPWD") ?? "";
            var mounts = new List<MountOp>();
            // The scripts' own place, read-only once they are written: the host overlay covers the
            // sandbox directory only where the tree shows it, which it does not when the directory
            // holding it is scaffolding (-L, -i: lower layers lie beside it).
            mounts.Add(new TmpfsMount(sandbox.Path) { Mode = FileModes.Private, Size = 1 << 20 });
            mounts.Add(new WriteFile(script) { Data = [.. Encoding.UTF8.GetBytes(string.Join(' ', command) + "\n")], Mode = FileModes.Directory });
            mounts.Add(new WriteFile(wrapper) { Data = [.. Encoding.UTF8.GetBytes($"#!/bin/sh\n\nOLDPWD={Quote(oldPwd)} . {Quote(script)}\n")], Mode = FileModes.Directory });
            mounts.Add(new RemountReadOnly(sandbox.Path));

            var env = Husk.Launch.CallerEnvironment.Current().Where(e => !Unset.Contains(Husk.Launch.CallerEnvironment.Split(e).Key));
            var spec = new SandboxSpec
            {
                Command = [shell, wrapper],
                Namespaces = NamespaceKinds.User | NamespaceKinds.Mount | NamespaceKinds.Pid | (a.NoNetwork ? NamespaceKinds.Net : 0),
                Identity = new Identity { Uid = 0, Gid = 0, Mapping = IdMapping.Single },
                FileSystem = fileSystem,
                Mounts = [.. mounts],
                // try shows the host as it is, secrets included.
                ShowSecrets = true,
                NestedUserNamespaces = NestedUserNamespaces.Allow,
                Seccomp = SeccompSpec.None,
                Landlock = LandlockSpec.Off,
                Environment = [.. env],
                NewSession = false,
                // Root of its own user namespace, as unshare --map-root-user leaves it.
                Capabilities = null,
                NoNewPrivileges = false,
            };
            SandboxProcess? process = null;
            try
            {
                return SandboxRunner.Run(spec, started: p => process = p).ShellStatus;
            }
            catch (SandboxSpecException e)
            {
                throw new TryExit(1, e.Problems[0]);
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
        }

        /// <summary>try's prompt_commit: the summary on stderr, then y (commit), i (choose in $EDITOR) or anything else (keep).</summary>
        private int Prompt(TrySandbox sandbox, int status)
        {
            var changes = sandbox.Changes(Include, Exclude);
            if (changes.Count == 0)
                return status;
            string summary = TrySandbox.Summary(changes);
            StandardError.Write(summary);
            // An interactive shell in the sandbox took the terminal and cannot give it back.
            Interop.Interop.TakeTerminalForeground(0);
            StandardError.Write("\nCommit these changes? [y/i/N] ");
            string answer = (ReadLine() ?? "").Trim(' ', '\t');
            switch (answer)
            {
                case "y" or "Y" or "yes" or "YES":
                    return sandbox.Commit(changes, name);
                case "i" or "I":
                    var chosen = ChooseEffects(summary);
                    if (chosen is not null)
                    {
                        File.WriteAllText(Path.Join(sandbox.Path, "include"), string.Concat(chosen.Select(c => c + "\n")));
                        Include = new TryPatterns(chosen);
                        return sandbox.Commit(sandbox.Changes(Include, Exclude), name);
                    }
                    break;
            }
            StandardError.WriteLine("Not committing.");
            WriteStdout(sandbox.Path + "\n");
            return 0;
        }

        /// <summary>The summary in $EDITOR (vi): the paths of the lines left become the include patterns; null to commit nothing.</summary>
        private List<string>? ChooseEffects(string summary)
        {
            string parent = Environment.GetEnvironmentVariable("TMPDIR") is { Length: > 0 } t ? t : "/tmp";
            string file = Path.Join(parent, $"tmp.{Path.GetRandomFileName().Replace(".", "", StringComparison.Ordinal)[..10]}.try-{_execId}");
            try
            {
                File.WriteAllText(file, summary);
                var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("EDITOR") is { Length: > 0 } e ? e : "vi") { UseShellExecute = false };
                psi.ArgumentList.Add(file);
                using (var editor = Process.Start(psi)!)
                {
                    editor.WaitForExit();
                    if (editor.ExitCode != 0)
                        return null;
                }
                string[] labels = [" (added)", " (created dir)", " (deleted)", " (modified)", " (replaced with dir)", " (symlink)"];
                var chosen = File.ReadAllLines(file)
                    .Where(l => labels.Any(label => l.EndsWith(label, StringComparison.Ordinal)))
                    .Select(l => l[..l.LastIndexOf(" (", StringComparison.Ordinal)])
                    .ToList();
                return chosen.Count > 0 ? chosen : null;
            }
            catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or UnauthorizedAccessException)
            {
                return null;
            }
            finally
            {
                File.Delete(file);
            }
        }
    }

    private static bool IsDirectory(string path) =>
        Interop.Interop.TryStat(path, out var st, followSymlinks: false) == 0 && (st.Mode & Interop.Interop.S_IFMT) == Interop.Interop.S_IFDIR;

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void WriteStdout(string text)
    {
        try
        {
            Interop.Interop.WriteAll(1, Encoding.UTF8.GetBytes(text));
        }
        catch (SyscallException)
        {
        }
    }

    /// <summary>One line from descriptor 0, a byte at a time so nothing after it is consumed (as the shell's read).</summary>
    internal static unsafe string? ReadLine()
    {
        var bytes = new List<byte>();
        byte b;
        while (true)
        {
            nint n = Interop.Interop.Read(0, &b, 1);
            if (n <= 0)
                return bytes.Count > 0 ? Encoding.UTF8.GetString(bytes.ToArray()) : null;
            if (b == '\n')
                return Encoding.UTF8.GetString(bytes.ToArray());
            bytes.Add(b);
        }
    }
}
