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
        RunArguments arguments;
        try
        {
            arguments = Parse(args, out bool help);
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

        string id = SandboxRegistry.NewId();
        SandboxSpec spec;
        try
        {
            spec = arguments.ToSpec(id);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        catch (SandboxSpecException e)
        {
            Console.Error.WriteLine($"husk run: {e.Problems[0]}");
            return 2;
        }
        if (LandlockWarning(spec) is { } warning)
            Console.Error.WriteLine(warning);
        var problems = spec.Validate();
        if (problems.Length > 0)
        {
            Console.Error.WriteLine($"husk run: {problems[0]}");
            return 2;
        }
        foreach (string note in arguments.Notes)
            StandardError.WriteLine(note);
        var session = new RunSession(arguments, id);
        return arguments.Tty ? TtyRunner.Run(spec, session) : session.Run(spec);
    }

    /// <summary>Best effort, and said so: what this kernel's Landlock cannot enforce of a policy that is not strict.</summary>
    internal static string? LandlockWarning(SandboxSpec spec)
    {
        var mode = spec.Landlock.Mode;
        if (spec.Landlock.Explicit is not null || mode is LandlockMode.Off or LandlockMode.Strict
            || (mode == LandlockMode.Auto && spec.NestedUserNamespaces == NestedUserNamespaces.Allow) || !spec.Namespaces.HasFlag(NamespaceKinds.Mount))
            return null;
        int abi = Policy.LandlockPolicy.KernelAbi;
        var policy = new Policy.LandlockPolicy { RestrictTcp = spec.Landlock.TcpBind.Length > 0 || spec.Landlock.TcpConnect.Length > 0 };
        return abi < policy.RequiredAbi ? $"husk: warning: Landlock ABI {abi} of this kernel: without {string.Join(", ", policy.Missing(abi))}" : null;
    }

    /// <param name="args">husk run's arguments.</param>
    /// <param name="help">Whether --help was asked for.</param>
    /// <param name="start">The sandbox before the options (default: the caller's environment, husk run's defaults).</param>
    internal static RunArguments Parse(string[] args, out bool help, SandboxSpecBuilder? start = null)
    {
        var state = new RunArguments();
        if (start is not null)
            state.Spec = start;
        state.StartEnvironment = state.Spec.Current.Environment;
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
            if (option.OptionalValue)
            {
                values = inline is null ? [] : [inline];
            }
            else if (inline is not null)
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

    /// <summary>The setup error in husk run's words, naming the option it came from where the engine cannot know it.</summary>
    internal static string SetupMessage(RunArguments state, SandboxSetupException e) =>
        e.Role == SetupRole.Chdir && state.Spec.Current.WorkingDirectory is { } dir
            ? $"husk run: --chdir {dir}: {SyscallException.Describe(e.Errno)}"
            : "husk: " + e.Message;

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
        sb.AppendLine("mounts, no nested user namespaces and a new session (in a terminal: a job of its own in the");
        sb.AppendLine("terminal's foreground, so shells inside have job control). Filesystem operations apply in");
        sb.AppendLine("order; a --profile applies its options where it is given. Sizes: 4096, 512M, 1.5G, 2GB (powers of 1024).");
        foreach (var group in RunOptions.All.GroupBy(o => o.Group))
        {
            sb.AppendLine();
            sb.AppendLine(group.Key + ":");
            foreach (var o in group)
            {
                string left = "  " + string.Join(", ", o.Aliases.Append(o.Usage));
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
