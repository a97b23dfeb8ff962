using Husk.Cli.Registry;
using Husk.FileSystem;
using Husk.Layers;
using Husk.Launch;

namespace Husk.Cli.Run;

/// <summary>
/// One <c>husk run</c> from start to end: the command line's own concerns around the engine. It owns
/// the layer's root (made or resumed before the run, reviewed after it), the registry entry that
/// <c>husk ps</c>, <c>enter</c> and <c>kill</c> find, the relays of piped output, and the reports.
/// </summary>
internal sealed class RunSession(RunArguments arguments, string id)
{
    private readonly RunArguments _arguments = arguments;
    private readonly string _id = id;

    /// <summary>The options of the run.</summary>
    public RunArguments Arguments => _arguments;

    /// <summary>
    /// Runs <paramref name="spec"/>: registers it for <c>husk ps</c>, relays its output, reports, and
    /// in the overlay mode hands the layer to the review (unless <paramref name="reviewLayer"/> is false).
    /// </summary>
    /// <param name="spec">The sandbox.</param>
    /// <param name="started">Called once the payload runs.</param>
    /// <param name="reviewLayer">Review the layer at exit (not for the review's own shell).</param>
    /// <param name="ended">Called once the payload has ended, before anything is said or asked (--tty gives the terminal its modes back).</param>
    public int Run(SandboxSpec spec, Action<SandboxProcess>? started = null, bool reviewLayer = true, Action? ended = null)
    {
        var state = _arguments;
        string id = _id;
        bool registered = false;
        SandboxRoot? root = null;
        bool rootIsNew = false;
        if (spec.FileSystem is HostOverlayFileSystem overlay && spec.Namespaces.HasFlag(NamespaceKinds.Mount))
        {
            // The session owns the layer's root: made (or resumed) here, reviewed at the end.
            rootIsNew = SandboxRoot.Open(overlay.Root) is null;
            try
            {
                root = SandboxRoot.CreateOrOpen(overlay.Root);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                state.Error($"husk run: --root {overlay.Root}: {ErrorText.Detail(e, overlay.Root)}");
                return 2;
            }
            if (overlay.StorageSize is not null && !rootIsNew && root.Changes().Count > 0)
            {
                state.Error($"husk run: --storage cannot resume {overlay.Root}, which holds changes: commit or discard them (husk commit|discard), or run without --storage");
                return 2;
            }
        }
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
        SandboxProcess? process = null;
        try
        {
            var result = SandboxRunner.RunToResult(spec, hooks, p =>
            {
                process = p;
                registered = Register(spec, p);
                SayWhereItStarted(spec, p);
                started?.Invoke(p);
                Relay(p.StandardOutput, 1, relays);
                Relay(p.StandardError, 2, relays);
            });
            foreach (var relay in relays)
                relay.Join();
            ended?.Invoke();
            var exit = result.Exit!;
            if (state.CountSyscalls)
                StandardError.Write(state.CountFormat == TraceFormat.Json
                    ? Husk.Tracing.SyscallCountTable.Json(result.SyscallCounts) + "\n"
                    : Husk.Tracing.SyscallCountTable.Text(result.SyscallCounts));
            if (state.NetSummary)
            {
                Console.Error.WriteLine("Network Summary:");
                foreach (string line in Husk.Network.NetworkSummary.Lines(result.Network, spec.Namespaces.HasFlag(NamespaceKinds.Net) ? "none" : "host"))
                    Console.Error.WriteLine(line);
            }
            if (spec.Limits.IsSupervised)
                Report(state, result, root?.Path);
            else if (result.Verdict == Verdict.RestrictedFunction)
                VerdictLine(result); // the policy's own kill is said even where nothing else is judged
            if (state.JsonStatusFd is { } js)
                StatusJson.Write(js, StatusJson.ExitLine(exit.ShellStatus));
            if (registered)
            {
                SandboxRegistry.Unregister(id);
                registered = false;
            }
            try
            {
                // A capped layer's tmpfs lived on while the process held it: now it moves into the root.
                process?.MergeLayerStorage();
            }
            catch (IOException e)
            {
                state.Error($"husk run: could not move the layer out of its storage into {root!.Path}: {ErrorText.Of(e)}");
                return 1;
            }
            if (reviewLayer && root is not null)
                Review.LayerCommands.AfterRun(state, root, rootIsNew);
            return exit.ShellStatus;
        }
        catch (SandboxSetupException e)
        {
            ended?.Invoke();
            state.Error(RunCommand.SetupMessage(state, e));
            if (spec.Limits.IsSupervised)
                WriteReports(state, new SandboxResult { Usage = new ResourceUsage(), Verdict = Verdict.InternalError, Message = e.Message, Limits = spec.Limits });
            // A layer nothing could write to is of no use: remove a new one.
            if (root is not null && rootIsNew && root.Changes().Count == 0)
                Review.LayerCommands.Delete(root);
            return RunCommand.ExitCodeFor(e);
        }
        catch (SandboxSpecException e)
        {
            state.Error($"husk run: {e.Problems[0]}");
            return 2;
        }
        catch (Husk.Images.ImageException e)
        {
            Console.Error.WriteLine($"husk run: {e.Message}");
            return 1;
        }
        finally
        {
            process?.DisposeLayerStorage();
            if (registered)
                SandboxRegistry.Unregister(id);
        }
    }

    /// <summary>
    /// One line when the payload could not start in the caller's directory (hidden, or not in the
    /// sandbox's tree), and one when files directly in it stay read-only (a directory the overlay
    /// could not take whole).
    /// </summary>
    private static void SayWhereItStarted(SandboxSpec spec, SandboxProcess p)
    {
        if (p.Image is { } image)
        {
            // The image's tree, not the host's: no word on the caller's directory, but on owners the cache could not keep.
            foreach (string line in image.Notes(spec.Identity.Uid ?? image.User.Uid))
                StandardError.WriteLine(line);
            return;
        }
        string cwd = HostContext.Current().WorkingDirectory;
        if (p.Layout?.OverlayPlan.ReadOnlyNote(spec.WorkingDirectory ?? cwd) is { } note)
            StandardError.WriteLine("husk run: " + note);
        if (spec.WorkingDirectory is null && p.WorkingDirectory is { } started && started != cwd)
            StandardError.WriteLine($"husk: working directory: {cwd}: not visible in the sandbox: starting in {started}");
    }

    /// <summary>The command as husk ps shows it; an image's own command is named by the image.</summary>
    private static string Describe(SandboxSpec spec) =>
        spec.Command.IsDefaultOrEmpty && spec.FileSystem is ImageFileSystem image ? $"(the command of {image.Reference})" : SandboxRegistry.Describe(spec.Command);

    /// <summary>Lists the sandbox for <c>husk ps</c>, with the walls <c>husk enter</c> gives whoever joins it.</summary>
    private bool Register(SandboxSpec spec, SandboxProcess process)
    {
        try
        {
            SandboxRegistry.Register(new SandboxEntry(_id, _arguments.Name, process.Pid, SandboxRegistry.StartTicks(process.Pid),
                Environment.ProcessId, DateTimeOffset.Now, Describe(spec))
            {
                Uid = spec.Identity.Uid ?? Interop.Interop.GetUid(),
                Gid = spec.Identity.Gid ?? Interop.Interop.GetGid(),
                Policy = process.Policy,
            });
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"husk: warning: husk ps will not list this sandbox: {ErrorText.Of(e)}");
            return false;
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
    private static void Report(RunArguments state, SandboxResult result, string? layer)
    {
        if (result.Verdict != Verdict.OK)
            VerdictLine(result);
        WriteReports(state, result, layer);
    }

    private static void VerdictLine(SandboxResult result) => Console.Error.WriteLine($"husk: verdict {result.Verdict}: {result.Message}");

    private static void WriteReports(RunArguments state, SandboxResult result, string? layer = null)
    {
        if (state.ReportFile is { } file)
            WriteReport("--report", file, ResultReport.ToJson(result, layer) + "\n");
        if (state.MetaFile is { } meta)
            WriteReport("--meta", meta, ResultReport.ToIsolateMeta(result));
        if (state.ReportFd is { } fd)
        {
            try
            {
                Interop.Interop.WriteAll(fd, System.Text.Encoding.UTF8.GetBytes(ResultReport.ToJson(result, layer) + "\n"));
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
}
