namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// <c>husk-runtime</c>: runc's command line over Husk's engine, so that podman, containerd (through
/// its runc shim) and, through them, Kubernetes run containers in Husk sandboxes. Global options
/// come before the command, in both <c>--flag=value</c> and <c>--flag value</c> forms; errors exit
/// 1 and go to <c>--log</c> as runc writes them (containerd matches some of their wording).
/// </summary>
internal static class OciPersonality
{
    private static readonly OciOption[] GlobalOptions =
    [
        new(["root"], true), new(["log"], true), new(["log-format"], true), new(["systemd-cgroup"], false), new(["debug"], false),
        new(["rootless"], true), new(["criu"], true), new(["cgroup-manager"], true), new(["version", "v"], false), new(["help", "h"], false),
    ];

    private static readonly Dictionary<string, Func<OciContext, string[], int>> Commands = new(StringComparer.Ordinal)
    {
        ["create"] = CreateCommand.Run,
        ["start"] = LifecycleCommands.Start,
        ["run"] = RunCommand.Run,
        ["state"] = QueryCommands.State,
        ["kill"] = LifecycleCommands.Kill,
        ["delete"] = LifecycleCommands.Delete,
        ["exec"] = ExecCommand.Run,
        ["ps"] = QueryCommands.Ps,
        ["list"] = QueryCommands.List,
        ["pause"] = ControlCommands.Pause,
        ["resume"] = ControlCommands.Resume,
        ["update"] = ControlCommands.Update,
        ["features"] = InfoCommands.Features,
        ["spec"] = InfoCommands.Spec,
    };

    private const string Usage = """
        husk-runtime: an OCI runtime (runc's command line) over Husk's sandbox engine

        usage: husk-runtime [global options] COMMAND [command options] [arguments]

        commands:
           create     create a container from a bundle (its init waits for start)
           start      run the user process of a created container
           run        create and start a container (and wait for it without --detach)
           state      print a container's state
           kill       send a signal to a container's init (--all: to every process)
           delete     remove a stopped container (--force: any)
           exec       run a new process in a container
           ps         list a container's processes
           list       list the containers
           pause      freeze every process of a container
           resume     thaw a paused container
           update     change a container's resource limits
           features   print what this runtime supports (JSON)
           spec       write a template config.json

        global options:
           --root DIR                 state directory (default /run/husk-runtime, or $XDG_RUNTIME_DIR/husk-runtime rootless)
           --log FILE                 where errors and warnings go
           --log-format text|json     the log's format
           --systemd-cgroup           cgroupsPath is slice:prefix:name
           --debug                    log debugging lines too
           --version                  print the version
        """;

    public static int Run(string argv0, string[] args)
    {
        _ = argv0;
        OciLog log = new(null, null, false);
        try
        {
            var globals = OciCommandLine.Parse(args, GlobalOptions, stopAfter: 1);
            log = new OciLog(globals.Value("log"), globals.Value("log-format"), globals.Flag("debug"));
            if (globals.Flag("version"))
                return InfoCommands.Version();
            if (globals.Flag("help") || globals.Arguments.Count == 0)
            {
                Console.Out.Write(Usage);
                return globals.Arguments.Count == 0 && !globals.Flag("help") ? 1 : 0;
            }
            string command = globals.Arguments[0];
            string[] rest = [.. globals.Arguments.Skip(1)];
            if (command is "help" or "--help")
            {
                Console.Out.Write(Usage);
                return 0;
            }
            if (!Commands.TryGetValue(command, out var run))
            {
                if (command is "checkpoint" or "restore" or "events")
                    throw new OciRuntimeException($"{command} is not supported by husk-runtime");
                throw new OciUsageException($"No help topic for '{command}'");
            }
            var host = OciContext.ReadHost();
            string root = globals.Value("root") is { Length: > 0 } r ? Path.GetFullPath(r) : ContainerStore.DefaultRoot(host.IsRoot && host.InitialUserNamespace);
            var ctx = new OciContext
            {
                Store = new ContainerStore(root),
                Log = log,
                SystemdCgroup = globals.Flag("systemd-cgroup"),
                Host = host,
            };
            log.Debug($"husk-runtime {string.Join(' ', args)}");
            return run(ctx, rest);
        }
        catch (Exception e) when (e is OciUsageException or OciConfigException or OciRuntimeException or SandboxSetupException or SandboxSpecException
                                      or SyscallException or IOException or UnauthorizedAccessException)
        {
            log.Error(Message(e));
            return 1;
        }
    }

    /// <summary>One line for an error: Husk's setup messages without the "husk: " of the native CLI.</summary>
    internal static string Message(Exception e)
    {
        string text = e switch
        {
            SandboxSpecException s => string.Join("; ", s.Problems),
            IOException or UnauthorizedAccessException => ErrorText.Of(e),
            _ => e.Message,
        };
        return text.StartsWith("husk: ", StringComparison.Ordinal) ? text["husk: ".Length..] : text;
    }

    /// <summary>The one container id a command takes, or runc's complaint.</summary>
    internal static string OneId(OciCommandLine line, string command)
    {
        if (line.Arguments.Count != 1)
            throw new OciUsageException($"{command}: \"{command}\" requires exactly 1 argument");
        ContainerStore.CheckId(line.Arguments[0]);
        return line.Arguments[0];
    }
}
