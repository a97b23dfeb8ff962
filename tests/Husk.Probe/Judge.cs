using System.Net.Sockets;
using System.Runtime.InteropServices;

/// <summary>
/// Programs a judge must handle, of known cost or known misbehaviour. Each prints one JSON line
/// of what it measured itself (getrusage, VmHWM) where it finishes. With <c>--name COMM</c> the
/// process (and every child it forks, which inherits it) is named COMM, so a test can look for
/// survivors in /proc afterwards. Attacks exit 0 when they succeeded and 1 when they were stopped.
/// </summary>
internal static unsafe partial class Judge
{
    [LibraryImport("libc", SetLastError = true)] private static partial int fork();
    [LibraryImport("libc", SetLastError = true)] private static partial int kill(int pid, int sig);
    [LibraryImport("libc", SetLastError = true)] private static partial int setuid(uint uid);
    [LibraryImport("libc", SetLastError = true)] private static partial int setsid();
    [LibraryImport("libc", SetLastError = true)] private static partial int pause();
    [LibraryImport("libc", SetLastError = true)] private static partial int prctl(int option, nint arg2, nint arg3, nint arg4, nint arg5);
    [LibraryImport("libc", SetLastError = true)] private static partial nint mmap(nint addr, nint length, int prot, int flags, int fd, nint offset);
    [LibraryImport("libc", SetLastError = true)] private static partial int getrusage(int who, long* usage);
    [LibraryImport("libc")] private static partial void _exit(int code);
    [LibraryImport("libc", SetLastError = true)] private static partial int pipe(int* fds);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)] private static partial int open(string path, int flags);
    [LibraryImport("libc", SetLastError = true)] private static partial int dup2(int from, int to);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte* buffer, nint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, byte* buffer, nint count);

    private const int PR_SET_NAME = 15;
    private const long MiB = 1 << 20;

    public static int Run(string[] args)
    {
        int name = Array.IndexOf(args, "--name");
        if (name >= 0 && name + 1 < args.Length)
        {
            SetName(args[name + 1]);
            args = [.. args[..name], .. args[(name + 2)..]];
        }
        string mode = args.Length > 0 ? args[0] : "";
        string arg = args.Length > 1 ? args[1] : "";
        switch (mode)
        {
            case "spin": // burn ARG seconds of CPU (own getrusage), then report
                Spin(double.Parse(arg, System.Globalization.CultureInfo.InvariantCulture));
                return Report();
            case "touch": // malloc ARG MiB and touch every page, hold it a moment (as a program computing would), then report
                Touch((byte*)NativeMemory.Alloc((nuint)(long.Parse(arg) * MiB)), long.Parse(arg) * MiB);
                Thread.Sleep(300);
                return Report();
            case "write": // write ARG bytes to stdout
            {
                using var stdout = Console.OpenStandardOutput();
                stdout.Write(new byte[int.Parse(arg)]);
                return 0;
            }
            case "memory-bomb": // malloc and touch 1 MiB at a time, forever
                while (true)
                    Touch((byte*)NativeMemory.Alloc((nuint)MiB), MiB);
            case "mmap-bomb": // anonymous mmap of 16 MiB at a time, touched, forever
                while (true)
                {
                    nint p = mmap(0, (nint)(16 * MiB), 3 /* RW */, 0x22 /* PRIVATE|ANONYMOUS */, -1, 0);
                    if (p == -1)
                        return 1;
                    Touch((byte*)p, 16 * MiB);
                }
            case "recurse":
                return Recurse(0);
            case "fork-bomb": // every process forks while it can and spins
                while (true)
                {
                    fork();
                    Spin(0.01);
                }
            case "thread-bomb": // threads that spin, started while they can be
                while (true)
                {
                    try
                    {
                        new Thread(() => Spin(double.MaxValue)) { IsBackground = true }.Start();
                    }
                    catch (Exception)
                    {
                        Spin(0.01);
                    }
                }
            case "output-flood": // stdout, forever
            {
                using var stdout = Console.OpenStandardOutput();
                var line = new byte[4096];
                line.AsSpan().Fill((byte)'y');
                while (true)
                    stdout.Write(line);
            }
            case "file-flood": // the file ARG grows forever
            {
                using var file = File.OpenWrite(arg);
                var block = new byte[64 * 1024];
                while (true)
                    file.Write(block);
            }
            case "loop":
                while (true)
                {
                }
            case "sleep":
                Thread.Sleep(Timeout.Infinite);
                return 0;
            case "pause":
                while (true)
                    pause();
            case "kill-all": // kill(-1, SIGKILL): everything this user may signal, except ourselves; we live on
                kill(-1, 9);
                return 0;
            case "setuid":
                return setuid(0) == 0 ? 0 : 1;
            case "read": // read a file such as /etc/shadow
                try
                {
                    File.ReadAllBytes(arg);
                    return 0;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return 1;
                }
            case "socket": // connect out over TCP to ARG (host:port)
                try
                {
                    string[] hp = arg.Split(':');
                    using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    s.Connect(System.Net.IPAddress.Parse(hp[0]), int.Parse(hp[1]));
                    return 0;
                }
                catch (SocketException)
                {
                    return 1;
                }
            case "orphan": // a child in a session of its own outlives us; we exit 0 at once
                if (fork() == 0)
                {
                    setsid();
                    while (true)
                        pause();
                }
                return 0;
            case "daemon": // a daemon: a child in a session of its own, its stdio on /dev/null, holding 48 MiB it touched; we exit 0 once it is ready
            {
                int[] ready = new int[2];
                fixed (int* fds = ready)
                    pipe(fds);
                if (fork() == 0)
                {
                    setsid();
                    int devnull = open("/dev/null", 2 /* O_RDWR */);
                    for (int fd = 0; fd < 3; fd++)
                        dup2(devnull, fd);
                    // Its exit takes a while: the pages go back first.
                    Touch((byte*)NativeMemory.Alloc((nuint)(48 * MiB)), 48 * MiB);
                    byte one = 1;
                    write(ready[1], &one, 1);
                    while (true)
                        pause();
                }
                byte b;
                read(ready[0], &b, 1);
                return 0;
            }
            case "self-kill":
                kill(Environment.ProcessId, 9);
                return 0;
            case "exit":
                return int.Parse(arg);
            default:
                Console.Error.WriteLine($"husk-probe judge: unknown mode {mode}");
                return 2;
        }
    }

    private static void SetName(string name)
    {
        byte[] bytes = new byte[16];
        System.Text.Encoding.ASCII.GetBytes(name.AsSpan(0, Math.Min(15, name.Length)), bytes);
        fixed (byte* p = bytes)
            prctl(PR_SET_NAME, (nint)p, 0, 0, 0);
    }

    private static void Touch(byte* p, long length)
    {
        if (p == null)
            Environment.Exit(1);
        for (long i = 0; i < length; i += 4096)
            p[i] = 1;
    }

    private static TimeSpan CpuTime()
    {
        long* ru = stackalloc long[18];
        getrusage(0, ru);
        return TimeSpan.FromTicks((ru[0] * 1_000_000 + ru[1] + ru[2] * 1_000_000 + ru[3]) * 10);
    }

    /// <summary>Busy until this process (all its threads) has used <paramref name="seconds"/> of CPU.</summary>
    private static void Spin(double seconds)
    {
        var until = seconds >= TimeSpan.MaxValue.TotalSeconds ? TimeSpan.MaxValue : CpuTime() + TimeSpan.FromSeconds(seconds);
        long x = 0;
        while (CpuTime() < until)
        {
            for (int i = 0; i < 100_000; i++)
                x += i;
        }
        GC.KeepAlive(x);
    }

    private static int Recurse(int depth)
    {
        Span<byte> frame = stackalloc byte[1024];
        frame[depth % 1024] = 1;
        return Recurse(depth + 1) + frame[0];
    }

    /// <summary>getrusage of this process and VmHWM, as one JSON line.</summary>
    private static int Report()
    {
        long* ru = stackalloc long[18];
        getrusage(0, ru);
        long hwm = 0;
        foreach (string line in File.ReadAllLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                hwm = long.Parse(line[6..].Trim().Split(' ')[0]) * 1024;
        }
        Console.Out.Write(FormattableString.Invariant(
            $"{{\"utime_s\":{ru[0] + ru[1] / 1e6},\"stime_s\":{ru[2] + ru[3] / 1e6},\"maxrss_bytes\":{ru[4] * 1024},\"hwm_bytes\":{hwm}}}\n"));
        Console.Out.Flush();
        return 0;
    }
}
