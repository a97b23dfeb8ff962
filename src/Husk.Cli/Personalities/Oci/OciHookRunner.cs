using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;

namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// Runs a config's hooks as the runtime spec says: in order, in the runtime's namespaces (the
/// bundle as working directory), each with the container's state on stdin, its own environment
/// only, and killed when it outlives its timeout.
/// </summary>
internal static class OciHookRunner
{
    /// <summary>Runs every hook of one kind; the first that fails throws with runc's wording.</summary>
    public static void RunAll(string kind, ImmutableArray<OciHook> hooks, string stateJson, string bundle)
    {
        for (int i = 0; i < hooks.Length; i++)
        {
            string? error = Run(hooks[i], stateJson, bundle);
            if (error is not null)
                throw new OciRuntimeException($"error running {kind} hook #{i}: {error}");
        }
    }

    /// <summary>Runs every hook of one kind; a failure is only logged (poststart, poststop).</summary>
    public static void RunAllWarning(string kind, ImmutableArray<OciHook> hooks, string stateJson, string bundle, OciLog log)
    {
        for (int i = 0; i < hooks.Length; i++)
        {
            if (Run(hooks[i], stateJson, bundle) is { } error)
                log.Warning($"error running {kind} hook #{i}: {error}");
        }
    }

    /// <summary>Runs one hook; null when it succeeded, else what went wrong.</summary>
    internal static string? Run(OciHook hook, string stateJson, string bundle)
    {
        var psi = new ProcessStartInfo(hook.Path)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Directory.Exists(bundle) ? bundle : "/",
        };
        // argv[0] is the file itself (System.Diagnostics cannot give another); the rest as listed.
        foreach (string arg in hook.Args.Skip(1))
            psi.ArgumentList.Add(arg);
        psi.Environment.Clear();
        foreach (string entry in hook.Env)
        {
            int eq = entry.IndexOf('=');
            if (eq > 0)
                psi.Environment[entry[..eq]] = entry[(eq + 1)..];
        }
        Process process;
        try
        {
            process = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"fork/exec {hook.Path}: {ErrorText.Reason(e)}";
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            try
            {
                process.StandardInput.Write(stateJson);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The hook need not read its stdin.
            }
            int timeout = hook.Timeout is { } t ? t * 1000 : Timeout.Infinite;
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return $"timeout after {hook.Timeout.GetValueOrDefault()} seconds";
            }
            process.WaitForExit();
            if (process.ExitCode == 0)
                return null;
            return string.Create(CultureInfo.InvariantCulture, $"exit status {process.ExitCode}, stdout: {stdout.Result.Trim()}, stderr: {stderr.Result.Trim()}");
        }
    }
}
