namespace Husk.Cli.Personalities.MiniSandbox;

/// <summary>
/// A usage error of mini-sandbox (its <c>Usage()</c>): the message, then its usage text, on standard
/// error, and exit status 1.
/// </summary>
internal sealed class MiniSandboxUsage(string message) : Exception(message);

/// <summary>
/// One of mini-sandbox's error codes reported from the command line (<c>MiniSbxReportError</c>): in
/// its CLI build the first one ends the run at once with "[function:line]: text" on standard error
/// and exit status 1, without the usage text. The function and line are where mini-sandbox at
/// 68c2571 reports it, so scripts matching its messages keep working.
/// </summary>
internal sealed class MiniSandboxError(string function, int line, MiniSandboxErrorCode code, string? detail = null)
    : Exception($"[{function}:{line}]: {Text(code)}{(string.IsNullOrEmpty(detail) ? "" : ": " + detail)}")
{
    /// <summary>The error code.</summary>
    public MiniSandboxErrorCode Code { get; } = code;

    /// <summary>mini-sandbox's words for each code (error-handling.h).</summary>
    private static string Text(MiniSandboxErrorCode code) => code switch
    {
        MiniSandboxErrorCode.InvalidFunctioningMode => "Only one between default, overlayfs and hermetic must be used",
        MiniSandboxErrorCode.SandboxRootNotUnique => "Only one sandbox root directory is allowed",
        MiniSandboxErrorCode.InvalidFolder => "Specify a valid directory",
        MiniSandboxErrorCode.OverlayOptionNotSet => "Overlay option not enabled",
        MiniSandboxErrorCode.PathDoesNotExist => "Path does not exist",
        MiniSandboxErrorCode.NotAnAbsolutePath => "Must use absolute paths",
        MiniSandboxErrorCode.LogFileNotUnique => "Cannot write debug output to more than one file",
        MiniSandboxErrorCode.IllegalConfiguration => "Illegal configuration. Overlay folder/sandbox root can't be inside a writable directory",
        MiniSandboxErrorCode.FileReadAndWrite => "Illegal configuration. File mounted as read and write at the same time",
        MiniSandboxErrorCode.IllegalNetworkConfiguration => "Cannot allow all domains after specifying one network rule",
        MiniSandboxErrorCode.TmpNotRemounted => "/tmp cannot be remounted when running in default mode",
        MiniSandboxErrorCode.GeneralOSError => "OS Error",
        _ => "Unknown error occurred",
    };
}

/// <summary>mini-sandbox's error codes that its command line can report, with their values (error-handling.h), which its library returns.</summary>
internal enum MiniSandboxErrorCode
{
    /// <summary>Two of -x, -o and -h.</summary>
    InvalidFunctioningMode = -1,
    /// <summary>-o or -h twice.</summary>
    SandboxRootNotUnique = -2,
    /// <summary>A directory that cannot be created.</summary>
    InvalidFolder = -3,
    /// <summary>-d or -k without -o or -x.</summary>
    OverlayOptionNotSet = -4,
    /// <summary>A path that must exist does not.</summary>
    PathDoesNotExist = -5,
    /// <summary>A relative path that does not exist.</summary>
    NotAnAbsolutePath = -6,
    /// <summary>-D twice.</summary>
    LogFileNotUnique = -7,
    /// <summary>The overlay's or root's directory inside a writable one.</summary>
    IllegalConfiguration = -8,
    /// <summary>The same path given to -M and -w.</summary>
    FileReadAndWrite = -9,
    /// <summary>mini-tapbox: a -F rule past the 100th or longer than 1024 bytes (its words fit another case).</summary>
    IllegalNetworkConfiguration = -10,
    /// <summary>-w /tmp or -M /tmp with -x.</summary>
    TmpNotRemounted = -11,
    /// <summary>A failed system call or file.</summary>
    GeneralOSError = -100,
}
