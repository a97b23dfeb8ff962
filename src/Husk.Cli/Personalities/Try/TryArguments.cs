namespace Husk.Cli.Personalities.Try;

/// <summary>What happens to the sandbox after the command (try's NO_COMMIT).</summary>
internal enum TryAfter
{
    /// <summary>Show the summary and ask (the default, also without a terminal).</summary>
    Interactive,
    /// <summary>-n: print the sandbox directory on stdout.</summary>
    Show,
    /// <summary>-N or -L: say nothing.</summary>
    Quiet,
    /// <summary>-y: commit without asking.</summary>
    Commit,
}

/// <summary>A message and exit status that end try at once (try's error()).</summary>
internal sealed class TryExit(int status, string? message = null, bool usage = false) : Exception(message)
{
    public int Status { get; } = status;
    public bool Usage { get; } = usage;
}

/// <summary>
/// try's command line, read like the shell's getopts with the option string
/// ":yvnhxE:I:i:t:N:U:L:": flags may be grouped, an option's value is the rest of its word or the
/// next word, the first word that is not an option (or <c>--</c>) ends them. Options act in order,
/// as in try: -N checks its directory and -v prints the version the moment they are read.
/// </summary>
internal sealed class TryArguments
{
    public TryAfter After = TryAfter.Interactive;
    public readonly List<string> Exclude = ["/run/mount", "/run/try_trace.log"];
    public readonly List<string> Include = [];
    public readonly List<string> Hide = [];
    public string? SandboxDir;
    public string? LowerDirs;
    public string? UnionHelper;
    public string? TraceFile;
    public bool NoNetwork;
    public bool Version;
    public List<string> Rest = [];

    private const string WithValue = "EIitNUL";
    private const string Flags = "yvnhx";

    public static TryArguments Parse(string[] args)
    {
        var a = new TryArguments();
        // A missing value is getopts' ':' case, which try answers with its usage.
        if (ShortOptions.Parse(args, Flags, WithValue, a.Apply, () => a.Version, _ => new TryExit(0, usage: true)) is int operands)
            a.Rest = [.. args[operands..]];
        return a;
    }

    private void Apply(char opt, string? value)
    {
        switch (opt)
        {
            case 'y':
                After = TryAfter.Commit;
                break;
            case 'n':
                After = TryAfter.Show;
                break;
            case 'E':
                Exclude.Add(value!);
                break;
            case 'I':
                Include.Add(value!);
                break;
            case 'i':
                Hide.Add(value!);
                break;
            case 'N':
                if (!Directory.Exists(value))
                    throw new TryExit(2, $"could not find sandbox directory '{value}'");
                SandboxDir = value;
                After = TryAfter.Quiet;
                break;
            case 'L':
                if (LowerDirs is not null)
                    throw new TryExit(2, "the -L option has been specified multiple times");
                LowerDirs = value;
                After = TryAfter.Quiet;
                break;
            case 'v':
                Version = true;
                break;
            case 'U':
                if (!TryShell.IsExecutable(value!))
                    throw new TryExit(2, $"could not find executable union helper '{value}'");
                UnionHelper = value;
                break;
            case 't':
                TraceFile = value;
                break;
            case 'x':
                NoNetwork = true;
                break;
            default: // h
                throw new TryExit(0, usage: true);
        }
    }

    /// <summary>The -L directories, highest precedence first, as given.</summary>
    public IReadOnlyList<string> Lowers =>
        LowerDirs is null ? [] : [.. LowerDirs.Split(':', StringSplitOptions.RemoveEmptyEntries)];

    public static string Usage(string name) => $"""
        Usage: {name} [-nvhyx] [-E PATTERN] [-I PATTERN] [-i PATH] [-t PATH] [-N DIR] [-U PATH] [-L dir1:dir2:...] CMD [ARG ...]

          -n                do not commit or ask; print the sandbox directory (overrides -y)
          -y                commit without asking (overrides -n)
          -x                no network access (a network namespace of its own)
          -E PATTERN        leave paths matching PATTERN out of summary and commit
          -I PATTERN        summarise and commit only paths matching PATTERN
          -i PATH           hide PATH inside the sandbox
          -t PATH           write an ordered log of effects to PATH (not yet in husk)
          -N DIR            use the sandbox directory DIR (implies -n, quietly)
          -U PATH           union helper to use (husk needs none and ignores it)
          -L dir1:dir2:...  stack earlier sandboxes as lower layers, leftmost on top (implies -n)
          -v                print the version and exit
          -h                print this help and exit

        Subcommands:
          {name} summary DIR   show the summary of the sandbox in DIR
          {name} commit DIR    commit the sandbox in DIR
          {name} explore DIR   start a shell inside the sandbox in DIR

        """;
}
