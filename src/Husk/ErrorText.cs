using System.ComponentModel;
using System.Text.RegularExpressions;

namespace Husk;

/// <summary>
/// What a user reads for an exception Husk did not raise itself. NativeAOT strips the runtime's
/// message resources, so the Message of an IOException is a resource key
/// ("IO_FileNotFound_FileName, /x"): the reason is worded from the exception's type or error
/// number instead, as strerror(3) words it, and the path is taken from where the runtime left it.
/// Every message built from a runtime exception goes through here.
/// </summary>
internal static partial class ErrorText
{
    /// <summary>The reason alone: "No such file or directory", "Permission denied".</summary>
    public static string Reason(Exception e) => e switch
    {
        SyscallException s => SyscallException.Describe(s.Errno),
        FileNotFoundException or DirectoryNotFoundException => SyscallException.Describe(Errno.ENOENT),
        UnauthorizedAccessException => SyscallException.Describe(Errno.EACCES),
        PathTooLongException => SyscallException.Describe(Errno.ENAMETOOLONG),
        // On Unix the runtime keeps the errno as an IOException's HResult.
        IOException io when io.HResult is > 0 and < 4096 => SyscallException.Describe((Errno)io.HResult),
        Win32Exception w when w.NativeErrorCode is > 0 and < 4096 => SyscallException.Describe((Errno)w.NativeErrorCode),
        _ when ResourceKey().Match(e.Message) is { Success: true } key => Words(key.Groups["key"].Value),
        _ => e.Message,
    };

    /// <summary>"PATH: reason" when the exception names a path, else the reason.</summary>
    public static string Of(Exception e)
    {
        if (e is SyscallException)
            return e.Message; // "call path: reason", Husk's own wording
        return PathOf(e) is { Length: > 0 } path ? $"{path}: {Reason(e)}" : Reason(e);
    }

    /// <summary>
    /// What follows "SUBJECT: " in a message about <paramref name="subject"/>: the reason, with the
    /// path it concerns first when that is another one (a parent directory that could not be made).
    /// </summary>
    public static string Detail(Exception e, string subject) =>
        PathOf(e) is { Length: > 0 } path && path != subject && path.TrimEnd('/') != Path.GetFullPath(subject).TrimEnd('/') ? $"{path}: {Reason(e)}" : Reason(e);

    /// <summary>The path an I/O exception is about, if the runtime recorded one.</summary>
    public static string? PathOf(Exception e)
    {
        if (e is SyscallException s)
            return s.Subject;
        if (e is FileNotFoundException { FileName: { Length: > 0 } name })
            return name;
        if (e is not (IOException or UnauthorizedAccessException))
            return null;
        // Without resources: "Key, argument"; with them: "... the path '/x' ...".
        if (ResourceKey().Match(e.Message) is { Success: true } key && key.Groups["arg"].Success)
            return key.Groups["arg"].Value;
        int first = e.Message.IndexOf('\''), last = e.Message.LastIndexOf('\'');
        return first >= 0 && last > first + 1 ? e.Message[(first + 1)..last] : null;
    }

    /// <summary>A resource key's words, for exceptions this class has no wording of its own for: "Arg_InvalidHandle" -> "invalid handle".</summary>
    private static string Words(string key)
    {
        string tail = key[(key.IndexOf('_') + 1)..].Replace('_', ' ');
        return CamelHump().Replace(tail, " $1").Trim().ToLowerInvariant();
    }

    // "IO_FileNotFound_FileName, /x", "UnauthorizedAccess_IODenied_Path, /x", "Arg_InvalidHandle".
    [GeneratedRegex(@"^(?<key>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+)(?:, (?<arg>.*))?$", RegexOptions.Singleline)]
    private static partial Regex ResourceKey();

    [GeneratedRegex(@"(?<=[a-z])([A-Z])")]
    private static partial Regex CamelHump();
}
