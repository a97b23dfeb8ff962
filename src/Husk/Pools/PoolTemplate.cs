using System.Runtime.InteropServices;
using Husk.Interop;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Pools;

/// <summary>
/// One template of a <see cref="SandboxPool"/>: the husk-pool process, started cold by the native
/// stage from the template's plan (it execs the program from a sealed memfd halfway through the
/// build), and the control socket it takes run requests on. A run's request carries the run's plan
/// image and descriptors, and an id; the answer carries the run's pidfd and that id. The template
/// clones each run from a thread of its own, borrowing its memory, and answers once the run has
/// exec'd: after the supervisor has served the run's hello and reports, and in the order runs exec,
/// not the order asked. A reader thread hands each answer to its asker.
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
    private readonly object _send = new();
    private readonly Dictionary<ulong, TaskCompletionSource<SpawnResult>> _pending = [];
    private ulong _lastId;
    private volatile bool _ended;

    private PoolTemplate(SandboxProcess process, SafeFd control)
    {
        _process = process;
        _control = control;
        _ = process.WaitForExitAsync().ContinueWith(_ => _ended = true, TaskScheduler.Default);
        new Thread(ReadAnswers) { IsBackground = true, Name = "husk-pool-answers" }.Start();
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

    /// <summary>Sends one request; its answer (the run's pid in the template and its pidfd, or the errno) comes once the run has exec'd.</summary>
    private unsafe Task<SpawnResult> Spawn(ulong cloneFlags, ulong hostMountNamespace, byte[] image, int channel, int status, int? cgroup, int[] payload)
    {
        var fds = new int[PoolPlanner.FirstPayloadSlot + payload.Length];
        fds[PoolPlanner.ChannelSlot] = channel;
        fds[PoolPlanner.StatusSlot] = status;
        // The slot is taken either way, so the payload's descriptors are where the plan names them.
        fds[PoolPlanner.CgroupSlot] = cgroup ?? status;
        payload.CopyTo(fds, PoolPlanner.FirstPayloadSlot);
        var answer = new TaskCompletionSource<SpawnResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_send)
        {
            if (_ended)
                return Task.FromResult(Failed(Errno.ESRCH));
            ulong id = ++_lastId;
            var request = new PoolRequest
            {
                Magic = PoolMagic,
                FdCount = (uint)fds.Length,
                CloneFlags = cloneFlags,
                HostMountNamespace = hostMountNamespace,
                Channel = PoolPlanner.ChannelSlot,
                Status = PoolPlanner.StatusSlot,
                Cgroup = cgroup is null ? -1 : PoolPlanner.CgroupSlot,
                Id = id,
            };
            _pending.Add(id, answer);
            int e = SendWithDescriptors(_control.Fd, new ReadOnlySpan<byte>(&request, sizeof(PoolRequest)), image, fds);
            if (e != 0)
            {
                _pending.Remove(id);
                return Task.FromResult(Failed(e == EMSGSIZE ? Errno.E2BIG : (Errno)e));
            }
        }
        return answer.Task;
    }

    /// <summary>The reader thread: hands each answer to its asker until the template is gone, then fails the rest.</summary>
    private void ReadAnswers()
    {
        while (true)
        {
            var reply = Receive(_control, out var pidfd);
            if (reply is null)
                break;
            TaskCompletionSource<SpawnResult>? asker;
            lock (_send)
            {
                if (_pending.Remove(reply.Value.Id, out asker) is false)
                    asker = null;
            }
            if (asker is null)
                pidfd?.Dispose();
            else
                asker.TrySetResult(Answer(reply.Value, pidfd));
        }
        // The template is gone, or the pool closed the socket: no asker gets an answer any more.
        _ended = true;
        List<TaskCompletionSource<SpawnResult>> lost;
        lock (_send)
        {
            lost = [.. _pending.Values];
            _pending.Clear();
            _control.Dispose();
        }
        foreach (var asker in lost)
            asker.TrySetResult(Failed(Errno.ESRCH));
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
        // shutdown wakes the reader from recvmsg (a close would not); it then fails what is pending.
        lock (_send)
        {
            if (!_control.IsClosed)
                Shutdown(_control.Fd, SHUT_RDWR);
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
            // Sent with the request, the template holds its own copies: ours go at once.
            using (childEnd)
            using (statusWrite)
                return template.Spawn(plan.CloneFlags, host.MountNamespace, image, childEnd.Fd, statusWrite!.Fd, hooks?.Cgroup?.Fd, payloadFds);
        }
    }
}
