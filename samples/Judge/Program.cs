using System.Globalization;
using System.Text;
using Husk;
using Husk.Policy;

// An online judge: compile a C submission in one sandbox, then run it on every test case of a
// problem in another, with limits, and print each verdict with its usage.
// usage: dotnet run -- SUBMISSION.c [PROBLEM-DIR]   (PROBLEM-DIR holds tests/NAME.in and NAME.out)
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Judge SUBMISSION.c [PROBLEM-DIR]");
    return 2;
}
string submission = Path.GetFullPath(args[0]);
string problem = Path.GetFullPath(args.Length > 1 ? args[1] : Path.Combine(AppContext.BaseDirectory, "problem"));
string work = Directory.CreateTempSubdirectory("judge-").FullName;
try
{
    File.Copy(submission, Path.Combine(work, "main.c"));
    // Root's sandboxes run as a subordinate uid (never the host's root): let them in.
    File.SetUnixFileMode(work, (UnixFileMode)0x1FF);
    File.SetUnixFileMode(Path.Combine(work, "main.c"), (UnixFileMode)0x1A4);

    // 1. Compile: the compiler gets the work directory writable and generous limits, nothing else.
    var compile = new SandboxSpecBuilder("/usr/bin/gcc", "-O2", "-o", "main", "main.c", "-lm")
        .Bind(work, "/work").Chdir("/work")
        .TimeLimit("10s").WallTime("30s").Memory("512M").Pids(64).OutputLimit("16M")
        .PipeOutput()
        .Build();
    var compiled = await Sandbox.RunAsync(compile);
    if (compiled.Verdict != Verdict.OK)
    {
        Console.WriteLine($"Compilation failed ({compiled.Verdict}): {compiled.Message}");
        Console.Write(Encoding.UTF8.GetString(compiled.StandardError ?? []));
        return 1;
    }
    Console.WriteLine($"compiled in {compiled.Usage.CpuTime.TotalSeconds:0.00} s of CPU ({compiled.Backend} backend)");

    // 2. Run each test: the binary read-only, tight limits, one process, and a syscall policy that
    //    kills the submission if it tries to start another program or open a socket.
    Console.WriteLine($"{"test",-10} {"verdict",-20} {"time",8} {"wall",8} {"memory",10}  {"output",8}");
    int failed = 0;
    foreach (string input in Directory.GetFiles(Path.Combine(problem, "tests"), "*.in").Order(StringComparer.Ordinal))
    {
        var run = new SandboxSpecBuilder("/work/main")
            .ReadOnlyBind(work, "/work").Chdir("/tmp").ClearEnv()
            .TimeLimit("1s").WallTime("3s").Memory("64M").Pids(1).OutputLimit("1M").Stack("64M")
            .StandardInput(StdioMode.Pipe).PipeOutput()
            .OnSyscall(["execve", "execveat", "socket"], _ => SyscallDecision.Kill)
            .Build();
        using var process = Sandbox.Start(run);
        // Feed the input and collect the output at the same time: either may fill a pipe.
        var feed = Task.Run(async () =>
        {
            await using (process.StandardInput!)
                await process.StandardInput!.WriteAsync(await File.ReadAllBytesAsync(input));
        });
        var output = new MemoryStream();
        var collect = process.StandardOutput!.CopyToAsync(output);
        var drain = process.StandardError!.CopyToAsync(Stream.Null);
        var result = await process.WaitAsync();
        await Task.WhenAll(collect, drain);
        try
        {
            await feed;
        }
        catch (IOException)
        {
            // The submission exited without reading all of its input.
        }

        string verdict = result.Verdict.ToString();
        if (result.Verdict == Verdict.OK)
        {
            string expected = File.ReadAllText(Path.ChangeExtension(input, ".out"));
            if (Normalize(Encoding.UTF8.GetString(output.ToArray())) != Normalize(expected))
                verdict = "WrongAnswer";
        }
        if (verdict != "OK")
            failed++;
        var u = result.Usage;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileNameWithoutExtension(input),-10} {verdict,-20} {u.CpuTime.TotalSeconds,7:0.000}s {u.WallTime.TotalSeconds,7:0.000}s {u.PeakMemoryBytes / 1048576.0,8:0.0}Mi  {u.StdoutBytes,8}"));
    }
    Console.WriteLine(failed == 0 ? "Accepted" : $"{failed} test(s) failed");
    return failed == 0 ? 0 : 1;
}
finally
{
    Directory.Delete(work, recursive: true);
}

static string Normalize(string s) => string.Join('\n', s.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0));
