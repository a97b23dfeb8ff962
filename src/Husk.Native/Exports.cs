using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Husk.Interop;
using Husk.Policy;

namespace Husk.Native;

/// <summary>husk.h's husk_syscall: 88 bytes, fields only ever added at the end.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct HuskSyscall
{
    public int Size;
    public int Event;
    public int Pid;
    public int Number;
    public byte* Name;
    public fixed ulong Args[6];
    public long Result;
    public int Code;
    public int Reserved;
}

/// <summary>
/// The exported functions of husk.h. Each catches everything (an exception must never cross into
/// C), refuses calls from a forked child, and says what went wrong through husk_last_error.
/// </summary>
internal static unsafe class Exports
{
    internal const int Ok = 0, Running = 1, EInternal = -1, ESpec = -2, ESetup = -3, EForked = -4, EHandle = -5, EArgument = -6;

    /// <summary>The ABI version of husk.h.</summary>
    internal const int AbiVersion = 1;

    private static readonly byte* VersionText = NativeText.Allocate(typeof(Exports).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "0.0.0");

    private static readonly ConcurrentDictionary<long, LibrarySandbox> Handles = new();
    private static readonly ConcurrentDictionary<long, SandboxPool> Pools = new();
    private static long _lastHandle;

    /// <summary>System call names as C strings, made once each and kept for the life of the process.</summary>
    private static readonly ConcurrentDictionary<string, nint> Names = new();

    [UnmanagedCallersOnly(EntryPoint = "husk_version")]
    public static byte* Version() => VersionText;

    [UnmanagedCallersOnly(EntryPoint = "husk_abi")]
    public static int Abi() => AbiVersion;

    [UnmanagedCallersOnly(EntryPoint = "husk_last_error")]
    public static byte* GetLastError() => ForkGuard.Forked ? ForkGuard.Message : LastError.Current;

    [UnmanagedCallersOnly(EntryPoint = "husk_string_free")]
    public static void StringFree(byte* text)
    {
        if (text is not null)
            NativeMemory.Free(text);
    }

    [UnmanagedCallersOnly(EntryPoint = "husk_validate")]
    public static int Validate(byte* specJson) => Guard(() =>
    {
        var json = NativeText.Read(specJson);
        if (json is null)
            return Fail(EArgument, "the spec is NULL");
        LibrarySpec.Parse(json, "validate");
        return Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "husk_run")]
    public static int Run(byte* specJson, delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context, byte** resultJson) =>
        Guard(() => RunWith(null, specJson, policy, context, resultJson));

    [UnmanagedCallersOnly(EntryPoint = "husk_start")]
    public static int Start(byte* specJson, delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context, long* handle) =>
        Guard(() => StartWith(null, specJson, policy, context, handle));

    [UnmanagedCallersOnly(EntryPoint = "husk_pool_new")]
    public static int PoolNew(byte* optionsJson, long* pool) => Guard(() =>
    {
        if (pool is null)
            return Fail(EArgument, "pool is NULL");
        *pool = 0;
        var options = LibrarySpec.ParsePoolOptions(NativeText.Read(optionsJson));
        long id = Interlocked.Increment(ref _lastHandle);
        Pools[id] = new SandboxPool(options);
        *pool = id;
        return Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "husk_pool_run")]
    public static int PoolRun(long pool, byte* specJson, delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context, byte** resultJson) =>
        Guard(() => Pools.GetValueOrDefault(pool) is { } p ? RunWith(p, specJson, policy, context, resultJson) : NoPool(pool));

    [UnmanagedCallersOnly(EntryPoint = "husk_pool_start")]
    public static int PoolStart(long pool, byte* specJson, delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context, long* handle) =>
        Guard(() => Pools.GetValueOrDefault(pool) is { } p ? StartWith(p, specJson, policy, context, handle) : NoPool(pool));

    [UnmanagedCallersOnly(EntryPoint = "husk_pool_free")]
    public static int PoolFree(long pool) => Guard(() =>
    {
        if (!Pools.TryRemove(pool, out var p))
            return NoPool(pool);
        p.Dispose();
        return Ok;
    });

    private static int NoPool(long pool) => Fail(EHandle, $"no pool with handle {pool}: it was never made or is freed already");

    /// <summary>husk_run, cold or from a pool.</summary>
    private static int RunWith(SandboxPool? pool, byte* specJson, delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context, byte** resultJson)
    {
        if (resultJson is null)
            return Fail(EArgument, "result_json is NULL");
        *resultJson = null;
        var spec = ReadSpec(specJson);
        if (spec is null)
            return Fail(EArgument, "the spec is NULL");
        LibrarySandbox sandbox;
        try
        {
            sandbox = LibrarySandbox.Start(spec, Policy(policy, context), blocking: true, pool);
        }
        catch (SandboxSetupException e)
        {
            // Like husk run --report: a run that could not start still has a result.
            *resultJson = NativeText.Allocate(ResultReport.ToJson(new SandboxResult
            {
                Usage = new ResourceUsage(), Verdict = Verdict.InternalError, Message = e.Message, Limits = spec.Sandbox.Limits,
            }));
            return Fail(ESetup, e.Message);
        }
        using (sandbox)
            *resultJson = NativeText.Allocate(sandbox.Wait(Timeout.InfiniteTimeSpan)!);
        return Ok;
    }

    /// <summary>husk_start, cold or from a pool.</summary>
    private static int StartWith(SandboxPool? pool, byte* specJson, delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context, long* handle)
    {
        if (handle is null)
            return Fail(EArgument, "handle is NULL");
        *handle = 0;
        var spec = ReadSpec(specJson);
        if (spec is null)
            return Fail(EArgument, "the spec is NULL");
        LibrarySandbox sandbox;
        try
        {
            sandbox = LibrarySandbox.Start(spec, Policy(policy, context), blocking: false, pool);
        }
        catch (SandboxSetupException e)
        {
            return Fail(ESetup, e.Message);
        }
        long id = Interlocked.Increment(ref _lastHandle);
        Handles[id] = sandbox;
        *handle = id;
        return Ok;
    }

    [UnmanagedCallersOnly(EntryPoint = "husk_pid")]
    public static int Pid(long handle) => Guard(() => Find(handle) is { } s ? s.Pid : NoHandle(handle));

    [UnmanagedCallersOnly(EntryPoint = "husk_stdio")]
    public static int Stdio(long handle, int fd) => Guard(() =>
    {
        if (Find(handle) is not { } s)
            return NoHandle(handle);
        int end = s.TakeStream(fd);
        return end >= 0 ? end : Fail(-1, $"fd {fd} of sandbox {handle} is not a \"pipe\" stream, or was taken already");
    }, failed: -1);

    [UnmanagedCallersOnly(EntryPoint = "husk_wait")]
    public static int Wait(long handle, int timeoutMs, byte** resultJson) => Guard(() =>
    {
        if (resultJson is null)
            return Fail(EArgument, "result_json is NULL");
        *resultJson = null;
        if (timeoutMs < -1)
            return Fail(EArgument, $"timeout_ms must be -1 or more: {timeoutMs}");
        if (Find(handle) is not { } s)
            return NoHandle(handle);
        string? report = s.Wait(timeoutMs == -1 ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(timeoutMs));
        if (report is null)
            return Running;
        *resultJson = NativeText.Allocate(report);
        return Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "husk_kill")]
    public static int Kill(long handle, int signal) => Guard(() =>
    {
        if (signal is < 1 or > 64)
            return Fail(EArgument, $"not a signal: {signal}");
        if (Find(handle) is not { } s)
            return NoHandle(handle);
        s.Signal(signal);
        return Ok;
    });

    [UnmanagedCallersOnly(EntryPoint = "husk_free")]
    public static int Free(long handle) => Guard(() =>
    {
        if (!Handles.TryRemove(handle, out var s))
            return NoHandle(handle);
        s.Dispose();
        return Ok;
    });

    private static LibrarySandbox? Find(long handle) => Handles.GetValueOrDefault(handle);

    private static int NoHandle(long handle) => Fail(EHandle, $"no sandbox with handle {handle}: it was never started or is freed already");

    private static LibrarySpec? ReadSpec(byte* specJson)
    {
        var json = NativeText.Read(specJson);
        return json is null ? null : LibrarySpec.Parse(json, Cli.Registry.SandboxRegistry.NewId());
    }

    /// <summary>The C policy as the engine's callback: the same struct for every call, on the notifier's thread.</summary>
    private static Func<SyscallRequest, SyscallDecision>? Policy(delegate* unmanaged<nint, HuskSyscall*, int> policy, nint context)
    {
        if (policy is null)
            return null;
        nint fn = (nint)policy;
        return request =>
        {
            HuskSyscall call = default;
            call.Size = sizeof(HuskSyscall);
            call.Event = request.Stop switch { SyscallStop.Exit => 1, SyscallStop.Signal => 2, _ => 0 };
            call.Result = request.ReturnValue ?? 0;
            call.Code = request.SignalCode ?? 0;
            call.Pid = request.Pid;
            call.Number = request.Number;
            call.Name = (byte*)Names.GetOrAdd(request.Name, n => (nint)NativeText.Allocate(n));
            for (int i = 0; i < 6 && i < request.Arguments.Length; i++)
                call.Args[i] = request.Arguments[i];
            int answer = ((delegate* unmanaged<nint, HuskSyscall*, int>)fn)(context, &call);
            return answer switch
            {
                0 => SyscallDecision.Allow,
                > 0 and <= 4095 => SyscallDecision.Deny((Errno)answer),
                _ => SyscallDecision.Kill,
            };
        };
    }

    private static int Fail(int code, string message)
    {
        LastError.Set(message);
        return code;
    }

    /// <summary>Every export's frame: the fork check, a cleared error, and no exception escaping.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Guard(Func<int> body, int failed = 0)
    {
        if (ForkGuard.Forked)
            return failed == 0 ? EForked : failed;
        LastError.Clear();
        try
        {
            return body();
        }
        catch (LibrarySpecException e)
        {
            return Fail(failed == 0 ? ESpec : failed, e.Message);
        }
        catch (SandboxSpecException e)
        {
            return Fail(failed == 0 ? ESpec : failed, string.Join("\n", e.Problems));
        }
        catch (SandboxSetupException e)
        {
            return Fail(failed == 0 ? ESetup : failed, e.Message);
        }
        catch (Exception e)
        {
            return Fail(failed == 0 ? EInternal : failed, "internal error: " + ErrorText.Of(e));
        }
    }
}
