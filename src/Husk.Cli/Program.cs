using Husk;
using System.Collections.Immutable;

namespace Husk.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").ToImmutableArray();
        var spec = new SandboxSpec
        {
            Command = [.. args],
            Environment = env,
            Hostname = "husk",
            Mounts = [
                new BindMount("/", "/") { ReadOnly = true },
                new ProcMount("/proc"),
                new DevMount("/dev"),
                new TmpfsMount("/tmp") { Mode = 0x3FF | 0x200 },
            ],
        };
        try
        {
            using var p = Launch.Launcher.Start(spec);
            var exit = p.WaitForExit();
            return exit.ShellStatus;
        }
        catch (SandboxSetupException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
