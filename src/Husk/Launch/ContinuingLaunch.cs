using System.Runtime.InteropServices;
using Husk.Interop;
using static Husk.Interop.Interop;

namespace Husk.Launch;

/// <summary>
/// A launch whose payload is the calling process itself (<see cref="SandboxSpec.ContinuesCaller"/>:
/// libmini-sandbox's mini_sandbox_start). The payload must be a copy of the caller's own thread,
/// so the clone cannot happen on a spawn thread or under a managed frame: <see cref="Begin"/>
/// plans and prepares on a thread of its own up to the clone and hands back husk_spawn's
/// arguments; the caller's C code then calls husk_continue (<see cref="Entry"/>) on its own
/// thread, which copies the process and clones from the copy; <see cref="Finish"/> gives the
/// supervised sandbox once it is set up (the payload has resumed the caller's code), or throws
/// why it could not be. The launcher serves the child as it serves any other.
/// </summary>
internal sealed unsafe class ContinuingLaunch : IDisposable
{
    private readonly SafeFd _theirs;
    private readonly Thread _thread;
    private readonly TaskCompletionSource<nint> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SandboxProcess? _process;
    private Exception? _error;

    private ContinuingLaunch(SafeFd theirs, Thread thread)
    {
        _theirs = theirs;
        _thread = thread;
    }

    /// <summary>husk_continue: call it with <see cref="Arguments"/> and <see cref="ResultDescriptor"/> on the thread that goes on.</summary>
    public static nint Entry => HuskContinueEntry();

    /// <summary>husk_spawn's arguments for the clone (valid until <see cref="Finish"/>).</summary>
    public nint Arguments { get; private set; }

    /// <summary>The descriptor husk_continue's copy sends the clone's result on.</summary>
    public int ResultDescriptor => _theirs.Fd;

    /// <summary>
    /// Plans and prepares <paramref name="spec"/> (which must continue its caller) and returns
    /// once only the clone is left; a setup that fails before it throws here.
    /// </summary>
    public static ContinuingLaunch Begin(SandboxSpec spec, HostContext? host = null)
    {
        if (!spec.ContinuesCaller)
            throw new ArgumentException("the spec does not continue its caller", nameof(spec));
        var (mine, theirs) = ChannelPair();
        ContinuingLaunch? launch = null;
        var starter = new Starter(mine, () => launch!._ready);
        // A thread of its own, not the pool's: it waits for the caller's copy, then serves the child's channel.
        var thread = new Thread(() =>
        {
            try
            {
                launch!._process = Launcher.Start(spec, hooks: null, host, starter);
            }
            catch (Exception e)
            {
                launch!._error = e;
            }
            finally
            {
                mine.Dispose();
                launch!._ready.TrySetResult(0);
            }
        })
        { IsBackground = true, Name = "husk-continue" };
        launch = new ContinuingLaunch(theirs, thread);
        thread.Start();
        nint args = launch._ready.Task.GetAwaiter().GetResult();
        if (args == 0)
        {
            // The launch ended before the clone: its failure is the caller's answer.
            thread.Join();
            launch.Dispose();
            throw launch._error ?? new SandboxSetupException("the sandbox could not be prepared", Errno.EINVAL) { Stage = SandboxSetupStage.Start };
        }
        launch.Arguments = args;
        return launch;
    }

    /// <summary>
    /// After husk_continue returned 0 (or failed) in the caller: the sandbox, set up and running
    /// the caller's code, or the reason it is not.
    /// </summary>
    public SandboxProcess Finish()
    {
        // Our copy of the copy's end goes: if the copy never sent its result, the starter sees the end.
        _theirs.Dispose();
        _thread.Join();
        if (_error is not null)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_error);
        return _process!;
    }

    /// <summary>Ends a launch that is not finished: the copy's end is closed, so a starter still waiting sees the end.</summary>
    public void Dispose() => _theirs.Dispose();

    /// <summary>
    /// The clone, asked of the caller: the arguments are published, the caller's copy clones, and
    /// its answer (husk_spawn_result, the pidfd with SCM_RIGHTS) is the spawn's result.
    /// </summary>
    private sealed class Starter(SafeFd mine, Func<TaskCompletionSource<nint>> ready) : ChildStarter
    {
        public override bool Adopted => false;

        public override bool WantsStatus(SpawnPlan plan) => plan.UsesInit;

        public override Task<SpawnResult> Start(SpawnPlan plan, HostContext host, LaunchHooks? hooks, SafeFd channel, SafeFd childEnd, SafeFd? statusWrite)
        {
            var (native, args) = Launcher.NativeSpawn(plan, host, hooks, channel, childEnd, statusWrite);
            var block = (SpawnArgs*)NativeMemory.Alloc((nuint)sizeof(SpawnArgs));
            try
            {
                *block = args;
                ready().TrySetResult((nint)block);
                return Task.FromResult(Receive(mine));
            }
            finally
            {
                // The copy and what it cloned have their own copies of all of it by now (or never will).
                NativeMemory.Free(block);
                native.Dispose();
                childEnd.Dispose();
                statusWrite?.Dispose();
            }
        }

        /// <summary>The copy's answer; a copy that ended without one (or never ran) reports ECHILD.</summary>
        private static SpawnResult Receive(SafeFd from)
        {
            Span<byte> data = stackalloc byte[sizeof(SpawnResult)];
            Span<byte> control = stackalloc byte[64];
            while (true)
            {
                nint n = ReceiveMessage(from.Fd, data, control, MSG_CMSG_CLOEXEC, out int length);
                if (n < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR)
                    continue;
                int? pidfd = null;
                var messages = new ControlMessages(control[..Math.Max(0, length)]);
                while (n > 0 && messages.MoveNext(out int level, out int type, out var payload))
                {
                    if (level == SOL_SOCKET && type == SCM_RIGHTS && payload.Length >= sizeof(int))
                        pidfd = MemoryMarshal.Read<int>(payload);
                }
                if (n != sizeof(SpawnResult))
                {
                    if (pidfd is not null)
                        Close(pidfd.Value);
                    return new SpawnResult { Pid = -1, Pidfd = -1, Error = (int)Errno.ECHILD };
                }
                var r = MemoryMarshal.Read<SpawnResult>(data);
                r.Pidfd = r.Pid >= 0 && pidfd is not null ? pidfd.Value : -1;
                if (r.Pid >= 0 && pidfd is null)
                    return new SpawnResult { Pid = -1, Pidfd = -1, Error = (int)Errno.EBADF };
                return r;
            }
        }
    }
}
