using Husk;
using Husk.Tracing;

// A watchdog in the spirit of libsandbox's profiling tools: run a program in a sandbox and print,
// as they happen, every file it opens and every connection it attempts, then a summary.
// usage: dotnet run -- COMMAND [ARGS...]
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Watchdog COMMAND [ARGS...]");
    return 2;
}

// Only the calls that open files or reach out stop the program; the others run at full speed.
var spec = new SandboxSpecBuilder(args[0], args[1..])
    .Share(NamespaceKinds.Net) // the host's network, so there is something to watch
    .Trace("open,openat,openat2,creat,execve,connect")
    .CountSyscalls()
    .Build();

using var process = Sandbox.Start(spec);
var files = new HashSet<string>(StringComparer.Ordinal);
int connections = 0;
// Read the events while the program runs: when the buffer is full, the program waits for us.
await foreach (var e in process.Events)
{
    if (e.Kind != TraceEventKind.Syscall)
        continue;
    string outcome = e.ErrorName is { } error ? $"failed: {error}" : "ok";
    switch (e.Name)
    {
        case "open" or "creat" or "execve":
            Report("file", e.Arguments[0].Value, outcome, e.Pid);
            break;
        case "openat" or "openat2":
            Report("file", e.Arguments[1].Value, outcome, e.Pid);
            break;
        case "connect":
            connections++;
            Report("connect", e.Arguments[1].Value ?? e.Arguments[1].Text, outcome, e.Pid);
            break;
    }
}
var result = await process.WaitAsync();
Console.WriteLine($"{files.Count} distinct files, {connections} connection attempts; {result.Message}");
foreach (var count in result.SyscallCounts)
    Console.WriteLine($"  {count.Name,-10} {count.Calls,6} calls {count.Errors,6} failed");
return result.ShellStatus;

void Report(string what, string? target, string outcome, int pid)
{
    if (target is null)
        return;
    if (what == "file")
        files.Add(target);
    Console.WriteLine($"[{pid}] {what,-7} {target} ({outcome})");
}
