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
    public static string Version =>
        typeof(HuskCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] == "run")
            return RunCommand.Execute(args[1..]);
        return Build().Parse(args).Invoke();
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
