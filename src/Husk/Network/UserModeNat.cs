using System.Globalization;
using System.Text;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Network;

/// <summary>
/// User-mode NAT on the sandbox's network namespace: Debian's pasta, else slirp4netns, started by
/// the supervisor (from the host's network) on the namespace of the cloned child before it goes
/// on, so the payload starts with its network up. The host's loopback stays unreachable (pasta
/// --no-map-gw, slirp4netns --disable-host-loopback; unless asked), nothing is forwarded from the
/// namespace to the host (-T none -U none), and only published ports come in.
/// </summary>
internal static class UserModeNat
{
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(20);

    /// <summary>How long connections to published ports may go without moving a byte before the helper is stopped anyway.</summary>
    private static readonly TimeSpan DrainStall = TimeSpan.FromSeconds(5);

    /// <summary>The helper's arguments for the namespaces of <paramref name="pid"/>; <paramref name="readyPath"/> is pasta's pid file.</summary>
    internal static List<string> Arguments(NatHelper helper, NetworkSpec spec, int pid, string readyPath, int readyFd, bool root)
    {
        string ns = $"/proc/{pid}/ns/net", user = $"/proc/{pid}/ns/user";
        var args = new List<string>();
        if (helper.Kind == NatHelperKind.Pasta)
        {
            args.AddRange(["-f", "-q", "--config-net", "--netns", ns, "--userns", user, "-P", readyPath, "-T", "none", "-U", "none"]);
            if (!spec.AllowHostLoopback)
                args.Add("--no-map-gw");
            if (root)
                args.AddRange(["--runas", "0"]); // no change of ids, or the parent-death signal would be cleared
            var tcp = spec.Publish.Where(p => p.Protocol == NetworkProtocol.Tcp).Select(p => $"{p.HostPort}:{p.SandboxPort}").ToList();
            var udp = spec.Publish.Where(p => p.Protocol == NetworkProtocol.Udp).Select(p => $"{p.HostPort}:{p.SandboxPort}").ToList();
            args.AddRange(["-t", tcp.Count > 0 ? string.Join(',', tcp) : "none", "-u", udp.Count > 0 ? string.Join(',', udp) : "none"]);
        }
        else
        {
            args.AddRange(["--configure", "--mtu=65520", "--enable-ipv6", "--ready-fd", readyFd.ToString(CultureInfo.InvariantCulture),
                "--netns-type=path", "--userns-path", user]);
            if (!spec.AllowHostLoopback)
                args.Add("--disable-host-loopback");
            args.AddRange([ns, "tap0"]);
        }
        return args;
    }

    /// <summary>Starts the helper on the namespaces of <paramref name="pid"/> and waits until the namespace is configured.</summary>
    public static HelperProcess Start(NatHelper helper, NetworkSpec spec, int pid)
    {
        string dir = Directory.CreateTempSubdirectory("husk-net-").FullName;
        try
        {
            string ready = Path.Join(dir, "ready");
            if (Mknodat(AT_FDCWD, ready, 0x1000 | 0x180, 0) != 0)
                throw SyscallException.FromLastError("mkfifo", ready);
            // Open before the helper does: read-write, so neither side blocks in open().
            using var readyFd = Open(ready, O_RDWR | O_NONBLOCK);
            HelperProcess process;
            if (helper.Kind == NatHelperKind.Pasta)
            {
                process = HelperProcess.Start(helper.Name, helper.Path, Arguments(helper, spec, pid, ready, -1, GetUid() == 0));
            }
            else
            {
                // slirp4netns writes "1" to an inherited descriptor once it has configured the namespace.
                int inherited = Fcntl(readyFd.Fd, 0 /* F_DUPFD: without close-on-exec */, 3);
                try
                {
                    process = HelperProcess.Start(helper.Name, helper.Path, Arguments(helper, spec, pid, ready, inherited, GetUid() == 0));
                }
                finally
                {
                    Close(inherited);
                }
            }
            try
            {
                WaitReady(process, readyFd);
            }
            catch
            {
                process.Dispose();
                throw;
            }
            return process;
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>
    /// Once the sandbox has exited: waits until the helper has passed on what the sandbox sent over
    /// connections to its published TCP ports, which it may still hold (stopping it then would cut
    /// the client's data short): until none of them is open on the helper's side (established, or
    /// closed by the client only), or none moved a byte for <see cref="DrainStall"/>.
    /// </summary>
    public static void Drain(IEnumerable<PortPublication> publish)
    {
        var ports = publish.Where(p => p.Protocol == NetworkProtocol.Tcp).Select(p => (int)p.HostPort).ToHashSet();
        if (ports.Count == 0)
            return;
        List<TcpSocket>? last = null;
        long since = System.Diagnostics.Stopwatch.GetTimestamp();
        while (true)
        {
            var open = Undrained(TcpTable.Read(), ports);
            if (open.Count == 0)
                return;
            if (last is null || !open.SequenceEqual(last))
            {
                (last, since) = (open, System.Diagnostics.Stopwatch.GetTimestamp());
            }
            else if (System.Diagnostics.Stopwatch.GetElapsedTime(since) > DrainStall)
            {
                return;
            }
            Thread.Sleep(10); // the kernel says nothing when a socket changes state: it is read again
        }
    }

    /// <summary>The helper's ends of connections to <paramref name="ports"/> that it has not closed yet.</summary>
    internal static List<TcpSocket> Undrained(IEnumerable<TcpSocket> sockets, IReadOnlySet<int> ports) =>
        [.. sockets.Where(s => ports.Contains(s.LocalPort) && s.State is TcpSocket.Established or TcpSocket.CloseWait).OrderBy(s => s.Inode)];

    private static unsafe void WaitReady(HelperProcess process, SafeFd ready)
    {
        using var pidfd = process.Pidfd();
        var deadline = DateTime.UtcNow + ReadyTimeout;
        PollFd* fds = stackalloc PollFd[2];
        while (true)
        {
            fds[0] = new PollFd { Fd = ready.Fd, Events = POLLIN };
            fds[1] = new PollFd { Fd = pidfd?.Fd ?? -1, Events = POLLIN };
            int left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
            int n = Poll(fds, 2, left);
            if (n < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                continue;
            if ((fds[0].REvents & POLLIN) != 0)
                return;
            if (n == 0)
                throw Failure(process, $"{process.Name} did not set up the sandbox's network within {ReadyTimeout.TotalSeconds:0} s");
            if (pidfd is null || (fds[1].REvents & POLLIN) != 0)
            {
                process.Dispose();
                string said = process.StandardError.Wait(TimeSpan.FromSeconds(2)) ? process.StandardError.Result.Trim() : "";
                throw Failure(process, $"{process.Name} failed: {Explain(process.Name, said)}");
            }
        }
    }

    /// <summary>The helper's own words, with the fix for the failure this host is known for.</summary>
    internal static string Explain(string name, string said)
    {
        string first = said.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(l => !l.Contains("syslog", StringComparison.Ordinal)) ?? "it exited";
        var sb = new StringBuilder(first);
        if (said.Contains("tun", StringComparison.OrdinalIgnoreCase) && Access("/dev/net/tun", 6) != 0)
            sb.Append(" (/dev/net/tun is not open to this user: run 'chmod 0666 /dev/net/tun' as root, as Debian's udev rules do)");
        return sb.ToString();
    }

    private static SandboxSetupException Failure(HelperProcess process, string message) =>
        new(message, Errno.EIO) { Stage = SandboxSetupStage.Start, RoleOverride = SetupRole.NetworkHelper };
}
