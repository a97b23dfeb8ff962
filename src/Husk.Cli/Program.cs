using Husk;
using System.Collections.Immutable;

namespace Husk.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        void T(string what) { if (Environment.GetEnvironmentVariable("HUSK_T") is not null) Console.Error.WriteLine($"{sw.Elapsed.TotalMilliseconds:F2} {what}"); }
        T("main");
        Launch.SpawnThread.AdoptCurrentThread();
        var env = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => $"{e.Key}={e.Value}").ToImmutableArray();
        var spec = new SandboxSpec
        {
            Command = [.. args],
            Environment = env,
            Hostname = "husk",
            Mounts = Environment.GetEnvironmentVariable("HUSK_X") switch {
                "nodev" => [ new BindMount("/", "/") { ReadOnly = true }, new ProcMount("/proc"), new TmpfsMount("/tmp") ],
                "bindonly" => [ new BindMount("/", "/") { ReadOnly = true } ],
                "none" => [],
                _ => [ new BindMount("/", "/") { ReadOnly = true }, new ProcMount("/proc"), new DevMount("/dev"), new TmpfsMount("/tmp") { Mode = 0x3FF | 0x200 } ] },
            Namespaces = Environment.GetEnvironmentVariable("HUSK_N") == "nonet" ? NamespaceKinds.AllButTime & ~NamespaceKinds.Net : NamespaceKinds.AllButTime,
        };
        T("spec");
        try
        {
            using var p = Launch.Launcher.Start(spec);
            T("started");
            var exit = p.WaitForExit();
            T("exited");
            return exit.ShellStatus;
        }
        catch (SandboxSetupException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
