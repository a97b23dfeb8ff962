using System.Text;
using Husk.Cli.Registry;
using Husk.Launch;

namespace Husk.Cli.Run;

/// <summary>
/// <c>husk run [OPTIONS] [--] COMMAND [ARGS...]</c>. Options are read in order (filesystem
/// operations apply in the order given), up to <c>--</c> or the first word that is not an option.
/// </summary>
internal static class RunCommand
{
    public static int Execute(string[] args)
    {
        RunState state;
        try
        {
            state = Parse(args, out bool help);
            if (help)
            {
                Console.Out.Write(Help());
                return 0;
            }
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        SandboxSpec spec;
        try
        {
            spec = state.BuildSpec();
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        if (spec.Landlock is { Strict: false } landlock && Policy.LandlockPolicy.KernelAbi < landlock.RequiredAbi)
        {
            // Best effort, and said so: what this kernel's Landlock cannot enforce.
            Console.Error.WriteLine($"husk: warning: Landlock ABI {Policy.LandlockPolicy.KernelAbi} of this kernel: without {string.Join(", ", landlock.Missing(Policy.LandlockPolicy.KernelAbi))}");
        }
        var problems = spec.Validate();
        if (problems.Length > 0)
        {
            Console.Error.WriteLine($"husk run: {problems[0]}");
            return 2;
        }
        return state.Tty ? TtyRunner.Run(spec, state) : Run(spec, state);
    }

    internal static RunState Parse(string[] args, out bool help)
    {
        var state = new RunState();
        help = false;
        int i = 0;
        for (; i < args.Length; i++)
        {
            string a = args[i];
            if (a == "--")
            {
                i++;
                break;
            }
            if (a is "-h" or "--help")
            {
                help = true;
                return state;
            }
            if (!a.StartsWith('-') || a == "-")
                break;
            string name = a;
            string? inline = null;
            int eq = a.IndexOf('=');
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 2)
            {
                name = a[..eq];
                inline = a[(eq + 1)..];
            }
            var option = RunOptions.Find(name) ?? throw new UsageException($"husk run: unknown option {name} (see husk run --help)");
            string[] values;
            if (inline is not null)
            {
                if (option.Args.Length != 1)
                    throw new UsageException($"husk run: {name} takes {(option.Args.Length == 0 ? "no value" : $"{option.Args.Length} arguments")}");
                values = [inline];
            }
            else
            {
                if (i + option.Args.Length >= args.Length)
                    throw new UsageException($"husk run: {name} needs {string.Join(' ', option.Args)}");
                values = args[(i + 1)..(i + 1 + option.Args.Length)];
                i += option.Args.Length;
            }
            option.Apply(state, values);
        }
        state.Command = [.. args[i..]];
        return state;
    }

    internal static int Run(SandboxSpec spec, RunState state, Action<SandboxProcess>? started = null, bool reviewLayer = true)
    {
        string id = SandboxRegistry.NewId();
        bool registered = false;
        var hooks = new LaunchHooks
        {
            SandboxPidKnown = pid =>
            {
                if (state.InfoFd is { } info)
                {
                    StatusJson.Write(info, StatusJson.Info(pid, spec.Namespaces));
                    Interop.Interop.Close(info);
                }
                if (state.JsonStatusFd is { } js)
                    StatusJson.Write(js, StatusJson.ChildPidLine(pid, spec.Namespaces));
                try
                {
                    SandboxRegistry.Register(new SandboxEntry(id, state.Name, pid, SandboxRegistry.StartTicks(pid),
                        Environment.ProcessId, DateTimeOffset.Now, SandboxRegistry.Describe(spec.Command))
                    {
                        Uid = spec.Identity.Uid ?? Interop.Interop.GetUid(),
                        Gid = spec.Identity.Gid ?? Interop.Interop.GetGid(),
                    });
                    registered = true;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
                {
                    Console.Error.WriteLine($"husk: warning: husk ps will not list this sandbox: {ErrorText.Of(e)}");
                }
            },
            BeforeRelease = _ =>
            {
                if (state.UsernsBlockFd is { } block)
                {
                    Span<byte> b = stackalloc byte[1];
                    Interop.Interop.ReadExactly(block, b);
                    Interop.Interop.Close(block);
                }
            },
        };
        var relays = new List<Thread>();
        Husk.Interop.SafeFd? storage = null;
        try
        {
            var result = SandboxRunner.RunToResult(spec, hooks, p =>
            {
                // The capped layer's tmpfs lives on while we hold it; it is moved to the root below.
                (storage, p.LayerStorage) = (p.LayerStorage, null);
                started?.Invoke(p);
                Relay(p.StandardOutput, 1, relays);
                Relay(p.StandardError, 2, relays);
            });
            foreach (var relay in relays)
                relay.Join();
            var exit = result.Exit!;
            if (spec.Limits.IsSupervised)
                Report(state, result);
            if (state.JsonStatusFd is { } js)
                StatusJson.Write(js, StatusJson.ExitLine(exit.ShellStatus));
            if (registered)
            {
                SandboxRegistry.Unregister(id);
                registered = false;
            }
            try
            {
                state.MergeStorage(storage);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"husk run: could not move the layer out of its storage into {state.Root!.Path}: {ErrorText.Of(e)}");
                return 1;
            }
            finally
            {
                storage?.Dispose();
            }
            if (reviewLayer && state.Root is not null)
                Review.LayerCommands.AfterRun(state);
            return exit.ShellStatus;
        }
        catch (SandboxSetupException e)
        {
            Console.Error.WriteLine(SetupMessage(state, e));
            if (spec.Limits.IsSupervised)
                WriteReports(state, new SandboxResult { Usage = new ResourceUsage(), Verdict = Verdict.InternalError, Message = e.Message, Limits = spec.Limits });
            // A layer nothing could write to is of no use: remove a new one.
            if (state.Root is { } root && state.RootIsNew && root.Changes().Count == 0)
                Review.LayerCommands.Delete(root);
            return ExitCodeFor(e);
        }
        catch (SandboxSpecException e)
        {
            Console.Error.WriteLine($"husk run: {e.Problems[0]}");
            return 2;
        }
        finally
        {
            storage?.Dispose();
            if (registered)
                SandboxRegistry.Unregister(id);
        }
    }

    /// <summary>Copies a payload's piped output to our own descriptor (the stream counts it and ends at the output limit).</summary>
    private static void Relay(Stream? from, int to, List<Thread> relays)
    {
        if (from is null)
            return;
        var t = new Thread(() =>
        {
            byte[] buffer = new byte[64 * 1024];
            bool open = true;
            int n;
            while ((n = from.Read(buffer)) > 0)
            {
                if (!open)
                    continue; // keep draining, so the payload is not blocked by a reader that left
                try
                {
                    Interop.Interop.WriteAll(to, buffer.AsSpan(0, n));
                }
                catch (SyscallException)
                {
                    open = false;
                }
            }
        }) { IsBackground = true, Name = $"husk-relay-{to}" };
        t.Start();
        relays.Add(t);
    }

    /// <summary>The verdict line (when it is not OK) and the reports asked for.</summary>
    private static void Report(RunState state, SandboxResult result)
    {
        if (result.Verdict != Verdict.OK)
            Console.Error.WriteLine($"husk: verdict {result.Verdict}: {result.Message}");
        WriteReports(state, result);
    }

    private static void WriteReports(RunState state, SandboxResult result)
    {
        if (state.ReportFile is { } file)
            WriteReport("--report", file, ResultReport.ToJson(result) + "\n");
        if (state.MetaFile is { } meta)
            WriteReport("--meta", meta, ResultReport.ToIsolateMeta(result));
        if (state.ReportFd is { } fd)
        {
            try
            {
                Interop.Interop.WriteAll(fd, System.Text.Encoding.UTF8.GetBytes(ResultReport.ToJson(result) + "\n"));
            }
            catch (SyscallException e)
            {
                Console.Error.WriteLine($"husk: --report-fd: {e.Message}");
            }
            Interop.Interop.Close(fd);
        }
    }

    private static void WriteReport(string option, string file, string text)
    {
        try
        {
            File.WriteAllText(file, text);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // /dev/stdout reopens the descriptor's file, which a pipe or terminal of another user refuses.
            string hint = file is "/dev/stdout" or "/dev/stderr" ? $" (--report-fd {(file == "/dev/stdout" ? 1 : 2)} writes to the open descriptor)" : "";
            Console.Error.WriteLine($"husk: {option} {file}: {ErrorText.Detail(e, file)}{hint}");
        }
    }

    /// <summary>The setup error in husk run's words, naming the option it came from where the engine cannot know it.</summary>
    internal static string SetupMessage(RunState state, SandboxSetupException e) =>
        e.Op?.Kind == Interop.Interop.OpKind.Chdir && state.Chdir is { } dir
            ? $"husk run: --chdir {dir}: {SyscallException.Describe(e.Errno)}"
            : e.Message;

    /// <summary>127 when the command is not found and 126 when it cannot run (as shells do), else 1.</summary>
    internal static int ExitCodeFor(SandboxSetupException e) =>
        e.IsExecFailure ? (e.Errno == Errno.ENOENT ? 127 : 126) : 1;

    internal static string Help()
    {
        var sb = new StringBuilder();
        sb.AppendLine("Usage: husk run [OPTIONS] [--] COMMAND [ARGS...]");
        sb.AppendLine();
        sb.AppendLine("Runs COMMAND in a sandbox. By default: every namespace but time, the host's tree through an");
        sb.AppendLine("overlay whose writes land in a layer reviewed at exit (--fs ro: read-only), fresh /proc, /dev,");
        sb.AppendLine("/tmp, /var/tmp and /run, secrets in the home directory hidden, no network, no capabilities,");
        sb.AppendLine("no_new_privs, locked securebits, the default seccomp profile, Landlock rules that mirror the");
        sb.AppendLine("mounts, no nested user namespaces and a new session. Filesystem operations apply in order; a");
        sb.AppendLine("--profile applies its options where it is given. Sizes: 4096, 512M, 1.5G, 2GB (powers of 1024).");
        foreach (var group in RunOptions.All.GroupBy(o => o.Group))
        {
            sb.AppendLine();
            sb.AppendLine(group.Key + ":");
            foreach (var o in group)
            {
                string left = "  " + string.Join(", ", o.Aliases.Prepend(o.Name)) + (o.Args.Length > 0 ? " " + string.Join(' ', o.Args) : "");
                sb.Append(left.PadRight(36));
                if (left.Length >= 36)
                    sb.AppendLine().Append(new string(' ', 36));
                sb.AppendLine(o.Help);
            }
        }
        sb.AppendLine();
        sb.AppendLine("Exit status: the command's, 128+N when signal N killed it (also a limit: the verdict is then");
        sb.AppendLine("printed on stderr); 1 for a setup error, 2 for a usage error, 126 or 127 when the command cannot");
        sb.AppendLine("be run or is not found.");
        return sb.ToString();
    }
}
