using System.Runtime.InteropServices;
using System.Text;
using Husk.Cli.Personalities.MiniSandbox;
using Husk.Launch;

namespace Husk.Native;

/// <summary>husk_mini_sandbox.h's launch struct: what libmini-sandbox needs to call husk_continue.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct MiniSandboxLaunch
{
    public nint Run;
    public nint Args;
    public int ResultFd;
    public int Reserved;
}

/// <summary>
/// libmini-sandbox's and libmini-tapbox's configuration and sandbox, behind the private calls of
/// husk_mini_sandbox.h. The configuration is the mini-sandbox personality's
/// (<see cref="MiniSandboxArguments"/>, whose library calls are the command line's options), one
/// per build in the process as each library has its own; the sandbox is its spec with the caller
/// as the payload (<see cref="SandboxSpec.ContinuesCaller"/>, <see cref="ContinuingLaunch"/>).
/// </summary>
internal static unsafe class MiniSandboxLibrary
{
    /// <summary>husk_mini_sandbox.h's function numbers.</summary>
    internal enum Function
    {
        SetupDefault = 1,
        SetupCustom = 2,
        SetupHermetic = 3,
        MountBind = 4,
        MountWrite = 5,
        MountTmpfs = 6,
        MountOverlay = 7,
        MountEmptyOutputFile = 8,
        SetWorkingDir = 9,
        MountParentsWrite = 10,
        EnableLog = 11,
        ShareNetwork = 12,
        AllowConnections = 13,
        AllowMaxConnections = 14,
        AllowIpv4 = 15,
        AllowDomain = 16,
        AllowAllDomains = 17,
        AllowIpv4Subnet = 18,
    }

    /// <summary>mini-sandbox's "unrecoverable" return value (its library returns -2 only for a nested or repeated start).</summary>
    private const int Failed = -1;

    /// <summary>mini-sandbox's GeneralOSError: what a sandbox that could not be set up reports.</summary>
    private const int GeneralOsError = -100;

    /// <summary>Where libmini-sandbox's sandbox finds its set-up mark (its MINISBX_TMP_INIT).</summary>
    internal const string InitFile = "/tmp/mini-sandbox-init";

    private static readonly object Gate = new();
    private static readonly MiniSandboxArguments?[] Configurations = new MiniSandboxArguments?[2];
    private static ContinuingLaunch? _launch;
    private static Microsoft.Win32.SafeHandles.SafeFileHandle? _log;

    private static MiniSandboxArguments Configuration(bool tapbox) =>
        Configurations[tapbox ? 1 : 0] ??= MiniSandboxArguments.ForLibrary(tapbox);

    [UnmanagedCallersOnly(EntryPoint = "husk_mini_sandbox_call")]
    public static int Call(int tapbox, int function, byte* a, byte* b, int n, int* code, byte* message, int capacity)
    {
        *code = 0;
        if (ForkGuard.Forked)
            return Report(Failed, GeneralOsError, "libhusk was called from a forked child of the process that loaded it", code, message, capacity);
        try
        {
            lock (Gate)
                return Apply(Configuration(tapbox != 0), (Function)function, NativeText.Read(a), NativeText.Read(b), n, new MiniSandboxHost()) ? 0 : Failed;
        }
        catch (MiniSandboxError e)
        {
            return Report(Failed, (int)e.Code, e.Message, code, message, capacity);
        }
        catch (Exception e)
        {
            return Report(Failed, GeneralOsError, "husk: internal error: " + ErrorText.Of(e), code, message, capacity);
        }
    }

    /// <summary>One configuration call; false for a failure that records no error (as linux-sandbox's).</summary>
    internal static bool Apply(MiniSandboxArguments a, Function function, string? first, string? second, int n, MiniSandboxHost host)
    {
        string Arg(string? s) => s ?? throw new MiniSandboxError("mini_sandbox", 0, MiniSandboxErrorCode.PathDoesNotExist, "(null)");
        switch (function)
        {
            case Function.SetupDefault:
                a.ApplyLibrary('x', null, host);
                return true;
            case Function.SetupCustom:
                return a.SetupCustom(Arg(first), Arg(second), host);
            case Function.SetupHermetic:
                a.ApplyLibrary('h', Arg(first), host);
                return true;
            case Function.MountBind:
                a.ApplyLibrary('M', Arg(first), host);
                return true;
            case Function.MountWrite:
                a.ApplyLibrary('w', Arg(first), host);
                return true;
            case Function.MountTmpfs:
                a.ApplyLibrary('e', Arg(first), host);
                return true;
            case Function.MountOverlay:
                a.ApplyLibrary('k', Arg(first), host);
                return true;
            case Function.MountEmptyOutputFile:
                a.MountEmptyOutputFile(Arg(first), host);
                return true;
            case Function.SetWorkingDir:
                a.SetWorkingDirectory(Arg(first), host);
                return true;
            case Function.MountParentsWrite:
                a.MountParentsWritable();
                return true;
            case Function.EnableLog:
                a.ApplyLibrary('D', Arg(first), host);
                return true;
            case Function.ShareNetwork:
                a.ApplyLibrary('N', null, host);
                return true;
            case Function.AllowConnections:
                bool clean = a.AllowConnections(Arg(first), host);
                foreach (string line in a.Unrecognized)
                    Console.Error.WriteLine($"Warning: Unrecognized rule format: {line}");
                a.Unrecognized.Clear();
                return clean;
            case Function.AllowMaxConnections:
                a.AllowMaxConnections(n);
                return true;
            case Function.AllowIpv4:
            case Function.AllowIpv4Subnet:
                a.AllowRule(Arg(first), "MiniSbxAllowIpv4", 621);
                return true;
            case Function.AllowDomain:
                a.AllowRule(Arg(first), "MiniSbxAllowDomain", 607);
                return true;
            case Function.AllowAllDomains:
                a.AllowAllDomains();
                return true;
            default:
                throw new MiniSandboxError("mini_sandbox", 0, MiniSandboxErrorCode.GeneralOSError, $"no such function {(int)function}");
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "husk_mini_sandbox_prepare")]
    public static int Prepare(int tapbox, MiniSandboxLaunch* launch, int* code, byte* message, int capacity)
    {
        *code = 0;
        if (ForkGuard.Forked)
            return Report(Failed, GeneralOsError, "libhusk was called from a forked child of the process that loaded it", code, message, capacity);
        try
        {
            lock (Gate)
            {
                var a = Configuration(tapbox != 0);
                var host = new MiniSandboxHost();
                MiniSandboxPersonality.Validate(a, host);
                var spec = ToSpec(a, host);
                _launch = ContinuingLaunch.Begin(spec);
                launch->Run = ContinuingLaunch.Entry;
                launch->Args = _launch.Arguments;
                launch->ResultFd = _launch.ResultDescriptor;
                return 0;
            }
        }
        catch (MiniSandboxError e)
        {
            return Report(Failed, (int)e.Code, e.Message, code, message, capacity);
        }
        catch (SandboxSpecException e)
        {
            return Report(Failed, GeneralOsError, "husk: " + e.Problems[0], code, message, capacity);
        }
        catch (SandboxSetupException e)
        {
            return Report(Failed, GeneralOsError, "husk: " + e.Message, code, message, capacity);
        }
        catch (Exception e)
        {
            return Report(Failed, GeneralOsError, "husk: internal error: " + ErrorText.Of(e), code, message, capacity);
        }
    }

    /// <summary>The sandbox the configuration describes, with the caller as its payload.</summary>
    internal static SandboxSpec ToSpec(MiniSandboxArguments a, MiniSandboxHost host)
    {
        // enable_log: Husk's log at debug level, in the file (truncated, as fopen "w" there).
        Logging.ILogSink? log = null;
        if (a.DebugLog is { } path)
        {
            try
            {
                _log = File.OpenHandle(path, FileMode.Create, FileAccess.Write);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new MiniSandboxError("StartLogging", 367, MiniSandboxErrorCode.GeneralOSError, $"fopen({path}) failed");
            }
            log = new Cli.LogSink(Logging.LogLevel.Debug, json: false, Guid.NewGuid().ToString(), fd: Descriptors.Number(_log), program: "libmini-sandbox");
        }
        var spec = MiniSandboxPersonality.ToSpec(a, host, log);
        return spec with
        {
            // libmini-sandbox's sandboxed process finds its set-up mark here, read-only ("1": set up),
            // and so does Husk's (the mount point is made where /tmp is, on the host, as there).
            Mounts = spec.Mounts.Add(new WriteFile(InitFile) { Data = [.. "1\n"u8], Mode = FileModes.File, Placement = FilePlacement.ReadOnlyBind }),
            Command = [],
            ContinuesCaller = true,
            Environment = [],
            // No exec to apply the usual rules: every capability goes, as linux-sandbox drops them.
            Capabilities = CapabilitySet.None,
        };
    }

    [UnmanagedCallersOnly(EntryPoint = "husk_mini_sandbox_supervise")]
    public static int Supervise(byte* message, int capacity)
    {
        int ignored;
        if (ForkGuard.Forked)
            return Report(Failed, GeneralOsError, "libhusk was called from a forked child of the process that loaded it", &ignored, message, capacity);
        ContinuingLaunch? launch;
        lock (Gate)
        {
            launch = _launch;
            _launch = null;
        }
        if (launch is null)
            return Report(Failed, GeneralOsError, "husk: no sandbox was prepared", &ignored, message, capacity);
        try
        {
            using var process = launch.Finish();
            var exit = process.WaitForExit();
            return exit.Signal is { } signal ? 256 + signal : exit.ExitCode ?? 0;
        }
        catch (SandboxSetupException e)
        {
            return Report(Failed, GeneralOsError, "husk: " + e.Message, &ignored, message, capacity);
        }
        catch (Exception e)
        {
            return Report(Failed, GeneralOsError, "husk: internal error: " + ErrorText.Of(e), &ignored, message, capacity);
        }
        finally
        {
            launch.Dispose();
            _log?.Dispose();
            _log = null;
        }
    }

    /// <summary>Records an error for the C side: its code, and its text cut to the buffer (as mini-sandbox keeps 254 bytes).</summary>
    private static int Report(int result, int errorCode, string text, int* code, byte* message, int capacity)
    {
        *code = errorCode;
        if (message is not null && capacity > 0)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            int n = Math.Min(bytes.Length, capacity - 1);
            bytes.AsSpan(0, n).CopyTo(new Span<byte>(message, n));
            message[n] = 0;
        }
        return result;
    }
}
