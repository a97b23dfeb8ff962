namespace Husk.Cli;

/// <summary>
/// One binary, several front doors chosen by the name it is invoked as (busybox style): husk,
/// bwrap, mkosi-sandbox, mbox, try, microbox, mini-sandbox and husk-runtime. Each personality only turns its peer's arguments into a
/// SandboxSpec; the engine does the rest.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        LastResort.Install();
        return LastResort.Run(() => FrontDoor(args));
    }

    private static int FrontDoor(string[] args)
    {
        string argv0 = Argv0();
        return PersonalityOf(argv0) switch
        {
            "bwrap" => Personalities.Bwrap.BwrapPersonality.Run(argv0, args),
            "mkosi-sandbox" => Personalities.MkosiSandbox.Run(argv0, args),
            "mbox" => Personalities.MboxPersonality.Run(argv0, args),
            "try" => Personalities.TryPersonality.Run(argv0, args),
            "microbox" => Personalities.Microbox.MicroboxPersonality.Run(argv0, args),
            "mini-sandbox" => Personalities.MiniSandbox.MiniSandboxPersonality.Run(argv0, args, tapbox: false),
            "mini-tapbox" => Personalities.MiniSandbox.MiniSandboxPersonality.Run(argv0, args, tapbox: true),
            "husk-runtime" => Personalities.Oci.OciPersonality.Run(argv0, args),
            _ => RunNative(args),
        };
    }

    /// <summary>The native CLI, which uses System.Console: its keypad mode is undone at exit.</summary>
    private static int RunNative(string[] args)
    {
        try
        {
            return HuskCommand.Run(args);
        }
        finally
        {
            ConsoleKeypad.Reset();
        }
    }

    /// <summary>argv[0] as the caller passed it.</summary>
    internal static string Argv0()
    {
        // Plain open and read: on the start path FileStream's set-up is not worth it. argv[0]
        // ends within the 64 KiB read (PATH_MAX is 4096).
        if (Husk.Resources.ProcFile.ReadText("/proc/self/cmdline") is { } cmdline && cmdline.IndexOf('\0') is int nul and >= 0)
            return cmdline[..nul];
        return Environment.GetCommandLineArgs()[0];
    }

    /// <summary>
    /// The basename of argv[0], or of /proc/self/exe when argv[0] is that path (bubblewrap's tests
    /// re-exec /proc/self/exe, which resolves to the hard link they were started through).
    /// </summary>
    internal static string PersonalityOf(string argv0)
    {
        string name = Path.GetFileName(argv0);
        if (argv0 == "/proc/self/exe" || name == "exe")
        {
            try
            {
                name = Path.GetFileName(new FileInfo("/proc/self/exe").LinkTarget ?? name);
            }
            catch (IOException)
            {
            }
        }
        if (name.EndsWith(" (deleted)", StringComparison.Ordinal))
            name = name[..^" (deleted)".Length];
        return name;
    }
}
