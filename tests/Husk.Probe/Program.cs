using System.Runtime.InteropServices;
using System.Text.Json;

// husk-probe [--read PATH]... [--write PATH]... [--exec PATH]...
// husk-probe judge MODE [ARG] [--name COMM]: programs of known cost and misbehaviour (Judge.cs).
// Prints one JSON object describing the process's view: ids, capabilities, namespaces, mounts,
// descriptors, and whether each given path can be read, written or executed.
// husk-probe pool-owner: starts `sleep 1000` from a SandboxPool, prints the sleeper's pid and
// waits for end of input (the tests kill it with SIGKILL: nothing of the pool may outlive it).
// husk-probe syscall NR [ARG...]: makes one raw system call and prints {"ret":R,"errno":E}; an
// argument is a number (decimal or 0x hex), s:TEXT (a pointer to that string) or buf:N (a pointer
// to N zero bytes).
internal static partial class Program
{
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long nr, nint a0, nint a1, nint a2, nint a3, nint a4, nint a5);

    [LibraryImport("libc", EntryPoint = "getuid")] private static partial uint GetUid();
    [LibraryImport("libc", EntryPoint = "geteuid")] private static partial uint GetEuid();
    [LibraryImport("libc", EntryPoint = "getgid")] private static partial uint GetGid();
    [LibraryImport("libc", EntryPoint = "getegid")] private static partial uint GetEgid();
    [LibraryImport("libc", EntryPoint = "getpid")] private static partial int GetPid();
    [LibraryImport("libc", EntryPoint = "getppid")] private static partial int GetPpid();
    [LibraryImport("libc", EntryPoint = "getsid")] private static partial int GetSid(int pid);
    [LibraryImport("libc", EntryPoint = "umask")] private static partial uint Umask(uint mask);
    [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Access(string path, int mode);

    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "judge")
            return Judge.Run(args[1..]);
        if (args.Length > 0 && args[0] == "pool-owner")
            return PoolOwner();
        if (args.Length > 0 && args[0] == "syscall")
            return RawSyscall(args[1..]);
        using var stdout = Console.OpenStandardOutput();
        using var w = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = false });
        w.WriteStartObject();
        w.WriteNumber("uid", GetUid());
        w.WriteNumber("euid", GetEuid());
        w.WriteNumber("gid", GetGid());
        w.WriteNumber("egid", GetEgid());
        w.WriteNumber("pid", GetPid());
        w.WriteNumber("ppid", GetPpid());
        w.WriteNumber("sid", GetSid(0));
        uint mask = Umask(0);
        Umask(mask);
        w.WriteNumber("umask", mask);
        w.WriteString("hostname", Read("/proc/sys/kernel/hostname")?.Trim());
        w.WriteString("cwd", Safe(() => Directory.GetCurrentDirectory()));

        w.WriteStartObject("status");
        foreach (string line in (Read("/proc/self/status") ?? "").Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0)
                continue;
            string key = line[..colon];
            if (key is "CapInh" or "CapPrm" or "CapEff" or "CapBnd" or "CapAmb" or "NoNewPrivs" or "Seccomp" or "Seccomp_filters" or "Groups" or "NSpid"
                or "SigIgn" or "SigBlk")
                w.WriteString(key, line[(colon + 1)..].Trim());
        }
        w.WriteEndObject();

        w.WriteStartObject("ns");
        foreach (string ns in new[] { "user", "mnt", "pid", "ipc", "uts", "net", "cgroup", "time" })
            w.WriteString(ns, Safe(() => new FileInfo($"/proc/self/ns/{ns}").LinkTarget ?? ""));
        w.WriteEndObject();

        w.WriteString("uid_map", Read("/proc/self/uid_map")?.Trim());
        w.WriteString("gid_map", Read("/proc/self/gid_map")?.Trim());
        w.WriteString("limits", Read("/proc/self/limits"));

        w.WriteStartArray("mounts");
        foreach (string line in (Read("/proc/self/mountinfo") ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
            string[] f = line.Split(' ');
            int dash = Array.IndexOf(f, "-");
            if (f.Length < 6 || dash < 0 || dash + 2 >= f.Length)
                continue;
            w.WriteStartObject();
            w.WriteString("root", Unescape(f[3]));
            w.WriteString("target", Unescape(f[4]));
            w.WriteString("options", f[5]);
            w.WriteString("fstype", f[dash + 1]);
            w.WriteString("source", Unescape(f[dash + 2]));
            w.WriteString("super", dash + 3 < f.Length ? f[dash + 3] : "");
            // Optional fields: "shared:N", "master:N", "propagate_from:N", "unbindable"; none means private.
            string[] tags = [.. f[6..dash].Select(t => t.Split(':')[0])];
            w.WriteString("propagation", tags.Length == 0 ? "private" : string.Join(',', tags));
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("fds");
        foreach (string fd in Safe(() => Directory.GetFileSystemEntries("/proc/self/fd")) ?? [])
            w.WriteNumberValue(int.Parse(Path.GetFileName(fd)));
        w.WriteEndArray();

        w.WriteStartObject("env");
        foreach (System.Collections.DictionaryEntry e in Environment.GetEnvironmentVariables())
            w.WriteString((string)e.Key, (string?)e.Value);
        w.WriteEndObject();

        w.WriteStartObject("access");
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            int mode = args[i] switch { "--read" => 4, "--write" => 2, "--exec" => 1, "--exists" => 0, _ => -1 };
            if (mode < 0)
                continue;
            w.WriteBoolean($"{args[i][2..]}:{args[i + 1]}", Access(args[i + 1], mode) == 0);
        }
        w.WriteEndObject();

        w.WriteEndObject();
        w.Flush();
        stdout.WriteByte((byte)'\n');
        return 0;
    }

    private static int PoolOwner()
    {
        var pool = new Husk.SandboxPool();
        var spec = new Husk.SandboxSpec
        {
            Command = ["/bin/sleep", "1000"],
            FileSystem = Husk.FileSystemSpec.Bare,
            Mounts = [new Husk.BindMount("/", "/") { ReadOnly = true }, new Husk.ProcMount("/proc"), new Husk.DevMount("/dev")],
        };
        var process = pool.Start(spec);
        Console.Out.Write($"{process.Pid}\n");
        Console.Out.Flush();
        Console.In.ReadToEnd();
        process.Dispose();
        pool.Dispose();
        return 0;
    }

    private static int RawSyscall(string[] args)
    {
        var a = new nint[6];
        for (int i = 1; i < args.Length && i <= 6; i++)
        {
            string v = args[i];
            if (v.StartsWith("s:", StringComparison.Ordinal))
                a[i - 1] = Marshal.StringToCoTaskMemUTF8(v[2..]);
            else if (v.StartsWith("buf:", StringComparison.Ordinal))
                a[i - 1] = Marshal.AllocHGlobal(int.Parse(v[4..])) is var p && Zero(p, int.Parse(v[4..])) ? p : 0;
            else if (v.StartsWith("0x", StringComparison.Ordinal))
                a[i - 1] = (nint)ulong.Parse(v[2..], System.Globalization.NumberStyles.HexNumber);
            else
                a[i - 1] = (nint)long.Parse(v);
        }
        long ret = Syscall(long.Parse(args[0]), a[0], a[1], a[2], a[3], a[4], a[5]);
        int errno = ret == -1 ? Marshal.GetLastPInvokeError() : 0;
        Console.Out.Write($"{{\"ret\":{ret},\"errno\":{errno}}}\n");
        return 0;
    }

    private static unsafe bool Zero(nint p, int n)
    {
        new Span<byte>((void*)p, n).Clear();
        return true;
    }

    private static string? Read(string path) => Safe(() => File.ReadAllText(path));

    private static T? Safe<T>(Func<T> f)
    {
        try
        {
            return f();
        }
        catch (Exception)
        {
            return default;
        }
    }

    private static string Unescape(string s) =>
        s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
}
