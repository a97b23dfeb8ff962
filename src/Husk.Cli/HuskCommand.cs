using System.CommandLine;
using System.Reflection;
using Husk.Cli.Registry;
using Husk.Cli.Run;

namespace Husk.Cli;

/// <summary>
/// The native CLI's command tree (System.CommandLine). <c>husk run</c> reads its options itself, in
/// order, because filesystem operations take several arguments each and apply in the order given;
/// its option table still feeds the help, the completions and the man page test.
/// </summary>
internal static class HuskCommand
{
    public static string Version => InformationalVersion.Split('+')[0];

    /// <summary>The version with its source revision (0.1.0+COMMIT), what <c>husk --version</c> prints.</summary>
    internal static string InformationalVersion =>
        typeof(HuskCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "run")
            return RunCommand.Execute(args[1..]);
        if (args is ["--version"])
        {
            // Before the command tree: building it is most of this command's time. The same text
            // as System.CommandLine's version option prints (the informational version).
            Console.Out.WriteLine(InformationalVersion);
            return 0;
        }
        var parse = Build().Parse(args);
        if (UsageError(parse) is { } problem)
        {
            Console.Error.WriteLine(problem);
            return 2;
        }
        // Exceptions go to the front door's last resort (one line), not System.CommandLine's stack trace.
        return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>
    /// One line naming what is wrong with the command line and where to look (not the whole help,
    /// which System.CommandLine prints), or null when it is fine or asks for help.
    /// </summary>
    internal static string? UsageError(ParseResult parse)
    {
        if (parse.Errors.Count == 0 || parse.Action is System.CommandLine.Help.HelpAction)
            return null;
        var names = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, r.Parent is null ? "husk" : r.Command.Name);
        string command = string.Join(' ', names);
        string what;
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            what = token.StartsWith('-') ? $"unknown option {token}"
                : parse.CommandResult.Parent is null ? $"unknown command {token}"
                : $"unexpected argument {token}";
        }
        else if (parse.CommandResult.Command.Action is null && parse.CommandResult.Command.Subcommands.Count > 0)
        {
            what = $"no command given: {string.Join('|', parse.CommandResult.Command.Subcommands.Select(c => c.Name))}";
        }
        else if (parse.Errors[0].SymbolResult is System.CommandLine.Parsing.ArgumentResult { Tokens.Count: 0 } missing)
        {
            what = $"missing {missing.Argument.Name.ToUpperInvariant()}";
        }
        else
        {
            // One line, though System.CommandLine lists the accepted values one per line.
            what = string.Join(' ', parse.Errors[0].Message.Split(['\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).TrimEnd('.');
        }
        return $"{command}: {what} (see {command} --help)";
    }

    internal static RootCommand Build()
    {
        var root = new RootCommand("Husk: run any program so that it cannot harm the machine, without privileges.");

        var run = new Command("run", "Run a command in a sandbox (see husk run --help for its options).");
        run.Arguments.Add(new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Description = "Options, then the command and its arguments." });
        run.TreatUnmatchedTokensAsErrors = false;
        run.SetAction(parse => RunCommand.Execute([.. parse.Tokens.Skip(1).Select(t => t.Value)]));
        root.Subcommands.Add(run);

        var ps = new Command("ps", "List this user's running sandboxes.");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only print ids." };
        ps.Options.Add(quiet);
        ps.SetAction(parse =>
        {
            var entries = SandboxRegistry.List();
            if (parse.GetValue(quiet))
            {
                foreach (var e in entries)
                    Console.Out.WriteLine(e.Id);
            }
            else
            {
                Console.Out.Write(SandboxRegistry.Table(entries));
            }
            return 0;
        });
        root.Subcommands.Add(ps);

        var enter = new Command("enter", "Run a command inside a running sandbox's namespaces, with the same restrictions.");
        var enterId = new Argument<string>("id") { Description = "Sandbox id (or a unique prefix) or name, from husk ps." };
        var enterCommand = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Description = "Command to run (default: $SHELL or /bin/sh)." };
        var enterChdir = new Option<string?>("--chdir") { Description = "Working directory inside (default /)." };
        var enterTty = new Option<bool>("--tty") { Description = "Give the command its own pseudo-terminal." };
        enter.Arguments.Add(enterId);
        enter.Arguments.Add(enterCommand);
        enter.Options.Add(enterChdir);
        enter.Options.Add(enterTty);
        enter.SetAction(parse => EnterCommand.Execute(parse.GetValue(enterId)!, parse.GetValue(enterCommand) ?? [], parse.GetValue(enterChdir), parse.GetValue(enterTty)));
        root.Subcommands.Add(enter);

        var kill = new Command("kill", "Stop a running sandbox (SIGKILL to its pid 1 ends every process in it).");
        var killId = new Argument<string>("id") { Description = "Sandbox id (or a unique prefix) or name." };
        var signal = new Option<string>("--signal", "-s") { Description = "Signal to send instead (name or number).", DefaultValueFactory = _ => "KILL" };
        kill.Arguments.Add(killId);
        kill.Options.Add(signal);
        kill.SetAction(parse => KillCommand.Execute(parse.GetValue(killId)!, parse.GetValue(signal)!));
        root.Subcommands.Add(kill);

        // The layer of an overlay sandbox, kept for later.
        var changes = new Command("changes", "List the changes recorded in a sandbox root.");
        var changesDir = new Argument<string>("dir") { Description = "The sandbox root (--root, or the path husk printed)." };
        var include = new Option<string[]>("--include") { Description = "Only changes matching GLOB.", AllowMultipleArgumentsPerToken = false };
        var exclude = new Option<string[]>("--exclude") { Description = "Leave out changes matching GLOB." };
        changes.Arguments.Add(changesDir);
        changes.Options.Add(include);
        changes.Options.Add(exclude);
        changes.SetAction(parse => Review.LayerCommands.Changes(parse.GetValue(changesDir)!, parse.GetValue(include) ?? [], parse.GetValue(exclude) ?? []));
        root.Subcommands.Add(changes);

        var diff = new Command("diff", "Show the changes of a sandbox root as unified diffs.");
        var diffDir = new Argument<string>("dir") { Description = "The sandbox root." };
        var diffPaths = new Argument<string[]>("paths") { Arity = ArgumentArity.ZeroOrMore, Description = "Only changes at or under these paths." };
        diff.Arguments.Add(diffDir);
        diff.Arguments.Add(diffPaths);
        diff.SetAction(parse => Review.LayerCommands.Diff(parse.GetValue(diffDir)!, parse.GetValue(diffPaths) ?? []));
        root.Subcommands.Add(diff);

        var commit = new Command("commit", "Apply the changes of a sandbox root to the host, without asking.");
        var commitDir = new Argument<string>("dir") { Description = "The sandbox root." };
        var commitPaths = new Argument<string[]>("paths") { Arity = ArgumentArity.ZeroOrMore, Description = "Only changes at or under these paths." };
        var force = new Option<bool>("--force") { Description = "Also apply changes whose host file changed since the session began." };
        var recursive = new Option<bool>("--recursive") { Description = "Delete directories that are not empty." };
        var commitInclude = new Option<string[]>("--include") { Description = "Only changes matching GLOB." };
        var commitExclude = new Option<string[]>("--exclude") { Description = "Leave out changes matching GLOB." };
        commit.Arguments.Add(commitDir);
        commit.Arguments.Add(commitPaths);
        commit.Options.Add(force);
        commit.Options.Add(recursive);
        commit.Options.Add(commitInclude);
        commit.Options.Add(commitExclude);
        commit.SetAction(parse => Review.LayerCommands.Commit(parse.GetValue(commitDir)!, parse.GetValue(commitPaths) ?? [], parse.GetValue(force),
            parse.GetValue(recursive), parse.GetValue(commitInclude) ?? [], parse.GetValue(commitExclude) ?? []));
        root.Subcommands.Add(commit);

        var discard = new Command("discard", "Delete a sandbox root and the changes in it.");
        var discardDir = new Argument<string>("dir") { Description = "The sandbox root." };
        discard.Arguments.Add(discardDir);
        discard.SetAction(parse => Review.LayerCommands.Discard(parse.GetValue(discardDir)!));
        root.Subcommands.Add(discard);

        var install = new Command("install", "Install husk, its personality links, man pages and shell completions.");
        var prefix = new Option<string>("--prefix") { Description = "Installation prefix (default: ~/.local).", DefaultValueFactory = _ => Path.Combine(Environment.GetEnvironmentVariable("HOME") ?? "/root", ".local") };
        install.Options.Add(prefix);
        install.SetAction(parse => InstallCommand.Execute(parse.GetValue(prefix)!));
        root.Subcommands.Add(install);

        var profile = new Command("profile", "List profiles, or show one (profiles hold husk run options and a seccomp policy).");
        var profileList = new Command("list", "List the built-in profiles and those in ~/.config/husk/profiles and /etc/husk/profiles.");
        profileList.SetAction(_ => Profiles.ProfileCommand.List());
        var profileShow = new Command("show", "Print a profile's TOML.");
        var profileName = new Argument<string>("name") { Description = "A profile name or a file." };
        profileShow.Arguments.Add(profileName);
        profileShow.SetAction(parse => Profiles.ProfileCommand.Show(parse.GetValue(profileName)!));
        profile.Subcommands.Add(profileList);
        profile.Subcommands.Add(profileShow);
        root.Subcommands.Add(profile);

        // The image cache of husk run --image.
        var image = new Command("image", "Manage the image cache of husk run --image (one unpacked tree per layer).");
        var imageList = new Command("ls", "List the images run from the cache, most recently used first.");
        var imageQuiet = new Option<bool>("--quiet", "-q") { Description = "Only print ids." };
        imageList.Options.Add(imageQuiet);
        imageList.SetAction(parse => Images.ImageCommand.List(parse.GetValue(imageQuiet)));
        var imageRemove = new Command("rm", "Forget images and delete the layers no other image uses.");
        var imageNames = new Argument<string[]>("image") { Arity = ArgumentArity.ZeroOrMore, Description = "A reference as run (oci:DIR:TAG, ...) or an id (or a prefix of it) from husk image ls." };
        imageRemove.Arguments.Add(imageNames);
        imageRemove.SetAction(parse => Images.ImageCommand.Remove(parse.GetValue(imageNames) ?? []));
        var imagePrune = new Command("prune", "Delete the layers no image uses, and what an interrupted unpack left.");
        var imageAll = new Option<bool>("--all", "-a") { Description = "Forget every image first: the whole cache goes, but layers in use." };
        imagePrune.Options.Add(imageAll);
        imagePrune.SetAction(parse => Images.ImageCommand.Prune(parse.GetValue(imageAll)));
        image.Subcommands.Add(imageList);
        image.Subcommands.Add(imageRemove);
        image.Subcommands.Add(imagePrune);
        root.Subcommands.Add(image);

        var completion = new Command("completion", "Print a shell completion script.");
        var shell = new Argument<string>("shell") { Description = "bash, zsh or fish." };
        shell.AcceptOnlyFromAmong("bash", "zsh", "fish");
        completion.Arguments.Add(shell);
        completion.SetAction(parse =>
        {
            Console.Out.Write(Completions.Script(parse.GetValue(shell)!));
            return 0;
        });
        root.Subcommands.Add(completion);

        return root;
    }
}
