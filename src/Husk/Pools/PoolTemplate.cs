using System.Runtime.InteropServices;
using Husk.Interop;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Pools;

/// <summary>
/// One template of a <see cref="SandboxPool"/>: the husk-pool process, started cold by the native
/// stage from the template's plan (it execs the program from a sealed memfd halfway through the
/// build), and the control socket it takes run requests on. A run's request carries the run's plan
/// image and descriptors; the answer carries the run's pidfd. The template answers in the order it
/// was asked, as soon as it has cloned: callers send without waiting for each other's answers, and
/// whoever waits reads the answers in turn and hands each to its asker (no thread of its own).
/// </summary>
internal sealed class PoolTemplate : IDisposable
{
    private static readonly Lazy<SafeFd> Program = new(() =>
    {
        int fd = HuskPoolMemfd();
        if (fd < 0)
            throw new SyscallException("memfd_create", "husk-pool", (Errno)(-fd));
        return new SafeFd(fd);
    });

    private readonly SandboxProcess _process;
    private readonly SafeFd _control;
    private readonly object _send = new(), _receive = new();
    private readonly Queue<Pending> _pending = new();
    private volatile bool _ended;

    private PoolTemplate(SandboxProcess process, SafeFd control)
    {
        _process = process;
        _control = control;
        _ = process.WaitForExitAsync().ContinueWith(_ => _ended = true, TaskScheduler.Default);
    }

    /// <summary>The template's pid (in the caller's pid namespace).</summary>
    public int Pid => _process.Pid;

    /// <summary>False once the template has ended (its runs ended with it).</summary>
    public bool IsAlive => !_ended;

    /// <summary>Starts the template of <paramref name="plan"/> and waits until it is ready for runs.</summary>
    public static PoolTemplate Start(PoolPlan plan, HostContext host)
    {
        var (control, theirs) = ChannelPair();
        SandboxProcess? process = null;
        try
        {
            using (theirs)
                process = Launcher.Start(plan.Template(theirs.Fd, Program.Value.Fd), host, hooks: null);
            var reply = Receive(control, out var none);
            none?.Dispose();
            if (reply is not { Kind: PoolReady, Error: 0 })
            {
                var errno = (Errno)(reply?.Error ?? (int)Errno.EPIPE);
                throw new SandboxSetupException($"starting the pool's template failed: {SyscallException.Describe(errno)}", errno) { Stage = SandboxSetupStage.Start };
            }
            return new PoolTemplate(process, control);
        }
        catch
        {
            control.Dispose();
            process?.Dispose();
            throw;
        }
    }

    /// <summary>The starter of one run: its plan image and its payload's descriptors (in slot order).</summary>
    public ChildStarter Run(byte[] image, int[] payloadFds) => new RunStarter(this, image, payloadFds);

    /// <summary>Sends one request and reads its answer: the run's pid in the template and its pidfd, or the errno.</summary>
    private unsafe SpawnResult Spawn(ulong cloneFlags, ulong hostMountNamespace, byte[] image, int channel, int status, int? cgroup, int[] payload)
    {
        var fds = new int[PoolPlanner.FirstPayloadSlot + payload.Length];
        fds[PoolPlanner.ChannelSlot] = channel;
        fds[PoolPlanner.StatusSlot] = status;
        // The slot is taken either way, so the payload's descriptors are where the plan names them.
        fds[PoolPlanner.CgroupSlot] = cgroup ?? status;
        payload.CopyTo(fds, PoolPlanner.FirstPayloadSlot);
        var request = new PoolRequest
        {
            Magic = PoolMagic,
            FdCount = (uint)fds.Length,
            CloneFlags = cloneFlags,
            HostMountNamespace = hostMountNamespace,
            Channel = PoolPlanner.ChannelSlot,
            Status = PoolPlanner.StatusSlot,
            Cgroup = cgroup is null ? -1 : PoolPlanner.CgroupSlot,
        };
        var head = new ReadOnlySpan<byte>(&request, sizeof(PoolRequest));
        var mine = new Pending();
        lock (_send)
        {
            if (_ended)
                return Failed(Errno.ESRCH);
            int e = SendWithDescriptors(_control.Fd, head, image, fds);
            if (e != 0)
                return Failed(e == EMSGSIZE ? Errno.E2BIG : (Errno)e);
            // Queued in the order sent, which is the order of the answers.
            _pending.Enqueue(mine);
        }
        lock (_receive)
        {
            while (mine.Result is null)
            {
                SafeFd? pidfd = null;
                var reply = _ended ? null : Receive(_control, out pidfd);
                if (reply is null)
                {
                    // The template is gone: no asker gets an answer any more.
                    _ended = true;
                    lock (_send)
                    {
                        while (_pending.TryDequeue(out var lost))
                            lost.Result = Failed(Errno.ESRCH);
                    }
                    break;
                }
                Pending asker;
                lock (_send)
                    asker = _pending.Dequeue();
                asker.Result = Answer(reply.Value, pidfd);
            }
        }
        return mine.Result ?? Failed(Errno.ESRCH);
    }

    /// <summary>What a template's answer means for its asker.</summary>
    private static SpawnResult Answer(PoolReply reply, SafeFd? pidfd)
    {
        if (reply.Kind != PoolSpawned)
        {
            pidfd?.Dispose();
            return Failed(Errno.ESRCH);
        }
        if (reply.Error != 0 || pidfd is null)
        {
            pidfd?.Dispose();
            return Failed(reply.Error != 0 ? (Errno)reply.Error : Errno.EBADF);
        }
        return new SpawnResult { Pid = reply.Pid, Pidfd = pidfd.Release() };
    }

    /// <summary>One asker's answer, once read (by whoever was reading then).</summary>
    private sealed class Pending
    {
        public SpawnResult? Result;
    }

    private static SpawnResult Failed(Errno errno) => new() { Pid = -1, Pidfd = -1, Error = (int)errno };

    /// <summary>The template's next answer and the descriptor it carries; null at end of stream (the template is gone).</summary>
    private static PoolReply? Receive(SafeFd control, out SafeFd? passed)
    {
        passed = null;
        Span<byte> data = stackalloc byte[Marshal.SizeOf<PoolReply>()];
        Span<byte> cmsg = stackalloc byte[128];
        while (true)
        {
            nint n = ReceiveMessage(control.Fd, data, cmsg, MSG_CMSG_CLOEXEC, out int length);
            if (n <= 0)
                return null;
            var messages = new ControlMessages(cmsg[..length]);
            while (messages.MoveNext(out int level, out int type, out var payload))
            {
                if (level == SOL_SOCKET && type == SCM_RIGHTS && payload.Length >= sizeof(int))
                    passed = new SafeFd(MemoryMarshal.Read<int>(payload));
            }
            var reply = MemoryMarshal.Read<PoolReply>(data);
            if (n == data.Length && reply.Magic == PoolMagic)
                return reply;
            passed?.Dispose();
            passed = null;
        }
    }

    /// <summary>Ends the template: its runs end with it (it is pid 1 of their parent pid namespace).</summary>
    public void Dispose()
    {
        _ended = true;
        // In the order Spawn takes them: no reader is left in recvmsg on the socket when it closes.
        lock (_receive)
        {
            lock (_send)
                _control.Dispose();
        }
        _process.Dispose();
    }

    /// <summary>One run's clone, asked of the template.</summary>
    private sealed class RunStarter(PoolTemplate template, byte[] image, int[] payloadFds) : ChildStarter
    {
        public override bool Adopted => true;

        public override bool WantsStatus(SpawnPlan plan) => true;

        public override Task<SpawnResult> Start(SpawnPlan plan, HostContext host, LaunchHooks? hooks, SafeFd channel, SafeFd childEnd, SafeFd? statusWrite)
        {
            using (childEnd)
            using (statusWrite)
                return Task.FromResult(template.Spawn(plan.CloneFlags, host.MountNamespace, image, childEnd.Fd, statusWrite!.Fd, hooks?.Cgroup?.Fd, payloadFds));
        }
    }
}
