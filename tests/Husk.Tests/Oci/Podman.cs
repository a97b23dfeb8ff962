using System.Globalization;
using static Husk.Interop.Interop;

namespace Husk.Tests.Oci;

/// <summary>
/// podman with everything of its own in an <see cref="EngineScratch"/>: containers.conf, storage
/// (vfs, so nothing is mounted on the host), run root and temporary files; as root,
/// or rootless as a throwaway user whose passwd entry and subordinate ids exist only in a private
/// mount namespace made for each call (podman's own user namespace, held by its pause process,
/// is joined by the calls after the first).
/// </summary>
internal sealed class Podman : IDisposable
{
    /// <summary>The throwaway user's uid, when rootless (the first free one from here).</summary>
    private const uint FirstUid = 61234;

    /// <summary>Its subordinate range (in /etc/subuid and /etc/subgid as the private mount namespace shows them).</summary>
    private const uint SubordinateStart = 1_600_000_000, SubordinateCount = 65536;

    private readonly string[] _command;
    private readonly Dictionary<string, string> _env = [];
    private readonly string _tmp;
    private readonly uint? _uid;
    private bool _disposed;

    private Podman(string home, string containersConf, uint? uid)
    {
        Home = home;
        _uid = uid;
        string run = Path.Combine(home, "run");
        _tmp = Path.Combine(home, "tmp");
        Directory.CreateDirectory(run);
        Directory.CreateDirectory(_tmp);
        File.WriteAllText(Path.Combine(home, "containers.conf"), containersConf);
        // Storage on the command line, which podman also gives the cleanup conmon starts (rootless
        // podman 4.3 takes no storage.conf from a variable), with short paths: that cleanup refuses
        // a run root of more than 50 characters.
        string[] podman = ["podman", "--root", Path.Combine(home, "storage"), "--runroot", Path.Combine(home, "rr"), "--storage-driver", "vfs", "--tmpdir", _tmp];
        if (uid is not { } u)
        {
            _env["CONTAINERS_CONF"] = Path.Combine(home, "containers.conf");
            _command = podman;
            return;
        }
        string etc = Path.Combine(home, "etc");
        Directory.CreateDirectory(etc);
        File.WriteAllText(Path.Combine(etc, "passwd"), File.ReadAllText("/etc/passwd") + $"husk-podman:x:{u}:{u}::{home}:/bin/sh\n");
        File.WriteAllText(Path.Combine(etc, "group"), File.ReadAllText("/etc/group") + $"husk-podman:x:{u}:\n");
        File.WriteAllText(Path.Combine(etc, "subids"), $"husk-podman:{SubordinateStart}:{SubordinateCount}\n");
        string script = Path.Combine(home, "as-user.sh");
        File.WriteAllText(script, $"""
            # Runs "$@" as the throwaway user, in the private mount namespace unshare made: its
            # passwd entry and subordinate ids are bound over the host's files only in there.
            set -e
            mount --make-rshared /
            mount --bind {etc}/passwd /etc/passwd
            mount --bind {etc}/group /etc/group
            mount --bind {etc}/subids /etc/subuid
            mount --bind {etc}/subids /etc/subgid
            exec setpriv --reuid={u} --regid={u} --clear-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME={home} \
                XDG_RUNTIME_DIR={run} CONTAINERS_CONF={home}/containers.conf "$@"

            """);
        var chown = TestEnvironment.Exec("chown", ["-R", $"{u}:{u}", home]);
        Assert.True(chown.Code == 0, chown.Stderr);
        File.SetUnixFileMode(run, (UnixFileMode)0x1c0);
        _command = ["unshare", "-m", "--propagation", "private", "/bin/sh", script, .. podman];
    }

    /// <summary>podman as root (the caller).</summary>
    public static Podman AsRoot(EngineScratch scratch, string containersConf)
    {
        string home = Path.Combine(scratch.Directory, "root");
        Directory.CreateDirectory(home);
        return new Podman(home, containersConf, null);
    }

    /// <summary>podman rootless, as a throwaway user with subordinate ids.</summary>
    public static Podman AsThrowawayUser(EngineScratch scratch, string containersConf)
    {
        uint uid = FirstUid;
        while (TestEnvironment.Exec("getent", ["passwd", uid.ToString(CultureInfo.InvariantCulture)]).Code == 0)
            uid++;
        string home = Path.Combine(scratch.Directory, "user");
        Directory.CreateDirectory(home);
        return new Podman(home, containersConf, uid);
    }

    /// <summary>Its home: configuration, storage and files it may bind into containers (owned by the user when rootless).</summary>
    public string Home { get; }

    /// <summary>A directory under <see cref="Home"/> the user owns.</summary>
    public string MakeDirectory(string name)
    {
        string dir = Path.Combine(Home, name);
        Directory.CreateDirectory(dir);
        if (_uid is { } u)
            Assert.Equal(0, TestEnvironment.Exec("chown", [$"{u}:{u}", dir]).Code);
        return dir;
    }

    /// <summary>podman ARGS, with <paramref name="stdin"/> as its input.</summary>
    public (int Code, string Stdout, string Stderr) RunWithInput(string? stdin, params string[] args) =>
        TestEnvironment.Exec(_command[0], [.. _command[1..], .. args], stdin: stdin, env: _env, timeoutMs: 90_000);

    /// <summary>podman ARGS, its input closed at once.</summary>
    public (int Code, string Stdout, string Stderr) Run(params string[] args) => RunWithInput(null, args);

    /// <summary>podman ARGS on a terminal (script(1) gives it one): its output as the terminal shows it, and its status.</summary>
    public (int Code, string Output) OnTerminal(params string[] args)
    {
        string command = string.Join(' ', _command.Concat(args).Select(EngineScratch.Quote));
        var env = new Dictionary<string, string>(_env);
        var r = TestEnvironment.Exec("script", ["-qec", command, "/dev/null"], env: env, timeoutMs: 90_000);
        return (r.Code, r.Stdout);
    }

    /// <summary>podman ARGS, which must succeed; its standard output, trimmed.</summary>
    public string Ok(params string[] args)
    {
        var r = Run(args);
        Assert.True(r.Code == 0, $"podman {string.Join(' ', args)}: {r.Code}: {r.Stderr}");
        return r.Stdout.Trim();
    }

    /// <summary>Waits until the container's log shows <paramref name="text"/>; false after 20 seconds.</summary>
    public bool WaitForLog(string container, string text)
    {
        var wait = System.Diagnostics.Stopwatch.StartNew();
        while (wait.Elapsed < TimeSpan.FromSeconds(20))
        {
            if (Run("logs", container).Stdout.Contains(text, StringComparison.Ordinal))
                return true;
            Thread.Sleep(100);
        }
        return false;
    }

    /// <summary>
    /// Removes every container left, then (rootless) ends podman's pause process, which holds its
    /// user namespace and would outlive the test (it is found by the pid file in podman's tmpdir,
    /// and killed only if it is the throwaway user's).
    /// </summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Run("rm", "--all", "--force", "--time", "0");
        if (_uid is not { } u)
            return;
        string pidFile = Path.Combine(_tmp, "pause.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            return;
        using var pidfd = PidfdOpen(pid);
        if (pidfd is null || !File.ReadAllText($"/proc/{pid}/status").Contains($"\nUid:\t{u}\t", StringComparison.Ordinal))
            return;
        PidfdSendSignal(pidfd, Signals.SIGKILL);
        unsafe
        {
            var fd = new PollFd { Fd = pidfd.Fd, Events = POLLIN };
            Poll(&fd, 1, 10_000);
        }
    }
}
