using System.Collections.Immutable;
using System.Globalization;

namespace Husk.Cli.Personalities.Mkosi;

/// <summary>A command line mkosi-sandbox refuses; exit 1 with the message.</summary>
internal sealed class MkosiUsageException(string message) : Exception(message);

/// <summary>
/// mkosi-sandbox's command line. Options are read until "--" or the first word that is not an
/// option; that word and everything after it is the command. Every path is made absolute
/// against the caller's working directory, lexically (Python's os.path.abspath).
/// </summary>
internal sealed record MkosiArguments
{
    public ImmutableArray<FsOperation> Operations { get; init; } = [];
    /// <summary>NAME, VALUE pairs in the order given; all are applied before any --unsetenv.</summary>
    public ImmutableArray<(string Name, string Value)> SetEnv { get; init; } = [];
    public ImmutableArray<string> UnsetEnv { get; init; } = [];
    public string? Chdir { get; init; }
    public bool BecomeRoot { get; init; }
    public bool SuppressChown { get; init; }
    public bool SuppressSync { get; init; }
    public bool UnshareNet { get; init; }
    public bool UnshareIpc { get; init; }
    public bool PackFds { get; init; }
    /// <summary>--exec-fd: descriptors the caller left open that close when the command is executed, not passed to it.</summary>
    public ImmutableArray<int> ExecFds { get; init; } = [];
    public bool MapForeign { get; init; }
    public int MapDelegate { get; init; }
    public bool Debug { get; init; }
    public bool Help { get; init; }
    public bool Version { get; init; }
    public ImmutableArray<string> Command { get; init; } = [];

    /// <summary>Parses <paramref name="args"/>; <paramref name="tty"/> is the terminal on stderr, for --dev's console.</summary>
    public static MkosiArguments Parse(IReadOnlyList<string> args, string cwd, string? tty)
    {
        var ops = ImmutableArray.CreateBuilder<FsOperation>();
        var setenv = ImmutableArray.CreateBuilder<(string, string)>();
        var unsetenv = ImmutableArray.CreateBuilder<string>();
        var execFds = ImmutableArray.CreateBuilder<int>();
        var lowers = new List<string>();
        string upper = "", work = "";
        var result = new MkosiArguments();
        int i = 0;

        string Next(string option)
        {
            if (i >= args.Count)
                throw new MkosiUsageException($"{option}: missing argument");
            return args[i++];
        }
        string Abs(string path) => PythonPath.Absolute(path, cwd);

        while (i < args.Count)
        {
            string arg = args[i++];
            if (arg == "--")
                break;
            switch (arg)
            {
                case "-h" or "--help":
                    return result with { Help = true };
                case "--version":
                    return result with { Version = true };
                case "--tmpfs":
                    ops.Add(new TmpfsOperation(Abs(Next(arg))));
                    break;
                case "--dev":
                    ops.Add(new DevOperation(Abs(Next(arg)), tty));
                    break;
                case "--proc":
                    ops.Add(new ProcOperation(Abs(Next(arg))));
                    break;
                case "--dir":
                    ops.Add(new DirOperation(Abs(Next(arg))));
                    break;
                case "--bind" or "--ro-bind" or "--bind-try" or "--ro-bind-try" or "--bind-foreign" or "--ro-bind-foreign"
                    or "--bind-nofollow" or "--ro-bind-nofollow":
                {
                    string src = Next(arg);
                    string dst = Next(arg);
                    bool inSandbox = src.StartsWith('+');
                    ops.Add(new BindOperation(Abs(inSandbox ? src[1..] : src), Abs(dst))
                    {
                        ReadOnly = arg.StartsWith("--ro", StringComparison.Ordinal),
                        Required = !arg.EndsWith("-try", StringComparison.Ordinal),
                        Foreign = arg.EndsWith("-foreign", StringComparison.Ordinal),
                        NoFollow = arg.EndsWith("-nofollow", StringComparison.Ordinal),
                        SourceInSandbox = inSandbox,
                    });
                    break;
                }
                case "--symlink":
                {
                    string target = Next(arg);
                    ops.Add(new SymlinkOperation(target, Abs(Next(arg))));
                    break;
                }
                case "--write":
                {
                    string data = Next(arg);
                    ops.Add(new WriteOperation(data, Abs(Next(arg))));
                    break;
                }
                case "--overlay-lowerdir":
                    lowers.Add(Abs(Next(arg)));
                    break;
                case "--overlay-upperdir":
                    upper = Next(arg);
                    if (upper != OverlayOperation.TmpfsUpper)
                        upper = Abs(upper);
                    break;
                case "--overlay-workdir":
                    work = Abs(Next(arg));
                    break;
                case "--overlay":
                    ops.Add(new OverlayOperation([.. lowers], upper, work, Abs(Next(arg))));
                    lowers.Clear();
                    upper = "";
                    work = "";
                    break;
                case "--unsetenv":
                    unsetenv.Add(Next(arg));
                    break;
                case "--setenv":
                {
                    string name = Next(arg);
                    setenv.Add((name, Next(arg)));
                    break;
                }
                case "--chdir":
                    result = result with { Chdir = Abs(Next(arg)) };
                    break;
                case "--same-dir":
                    result = result with { Chdir = cwd };
                    break;
                case "--become-root":
                    result = result with { BecomeRoot = true };
                    break;
                case "--map-foreign":
                    result = result with { MapForeign = true };
                    break;
                case "--map-delegate":
                    result = result with { MapDelegate = PythonInt(Next(arg)) };
                    break;
                case "--exec-fd":
                    execFds.Add(PythonInt(Next(arg)));
                    break;
                case "--suppress-chown":
                    result = result with { SuppressChown = true };
                    break;
                case "--suppress-sync":
                    result = result with { SuppressSync = true };
                    break;
                case "--unshare-net":
                    result = result with { UnshareNet = true };
                    break;
                case "--unshare-ipc":
                    result = result with { UnshareIpc = true };
                    break;
                case "--pack-fds":
                    result = result with { PackFds = true };
                    break;
                case "--debug":
                    result = result with { Debug = true };
                    break;
                default:
                    if (arg.StartsWith('-'))
                        throw new MkosiUsageException($"Unrecognized option {arg}");
                    i--; // the command starts here
                    goto done;
            }
        }
    done:
        return result with
        {
            Operations = ops.ToImmutable(),
            SetEnv = setenv.ToImmutable(),
            UnsetEnv = unsetenv.ToImmutable(),
            ExecFds = execFds.ToImmutable(),
            Command = [.. args.Skip(i)],
        };
    }

    /// <summary>Python's int() of a command-line word, and its message when it is not one.</summary>
    private static int PythonInt(string word) =>
        int.TryParse(word.Trim().Replace("_", ""), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new MkosiUsageException($"invalid literal for int() with base 10: '{word}'");
}
