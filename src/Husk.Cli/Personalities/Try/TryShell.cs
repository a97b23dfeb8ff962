namespace Husk.Cli.Personalities.Try;

/// <summary>The shell try runs the command with: TRY_SHELL, else SHELL (not fish), else the login shell, else /bin/sh.</summary>
internal static class TryShell
{
    public static string Choose()
    {
        if (Environment.GetEnvironmentVariable("TRY_SHELL") is { Length: > 0 } tryShell && IsExecutable(tryShell))
            return tryShell;
        if (Environment.GetEnvironmentVariable("SHELL") is { Length: > 0 } shell && IsExecutable(shell) && Path.GetFileName(shell) != "fish")
            return shell;
        string? login = LoginShell();
        if (login is not null && IsExecutable(login) && Path.GetFileName(login) != "fish")
            return login;
        return "/bin/sh";
    }

    /// <summary>The login shell of $LOGNAME in /etc/passwd (when exactly one line starts with it, as try's grep finds it).</summary>
    private static string? LoginShell()
    {
        string? name = Environment.GetEnvironmentVariable("LOGNAME");
        try
        {
            var lines = File.ReadLines("/etc/passwd").Where(l => l.StartsWith(name ?? "", StringComparison.Ordinal)).ToList();
            if (lines.Count != 1)
                return null;
            string[] fields = lines[0].Split(':');
            return fields.Length >= 7 ? fields[6] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>As the shell's <c>[ -x PATH ]</c>: it exists and may be executed (searched, for a directory).</summary>
    public static bool IsExecutable(string path) => path.Length > 0 && Interop.Interop.Access(path, 1) == 0;
}
