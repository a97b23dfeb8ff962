using System.Collections.Concurrent;
using System.Diagnostics;

namespace Husk.Network;

/// <summary>
/// A helper program the supervisor runs beside a sandbox (pasta, slirp4netns). It dies with the
/// supervisor even when that is killed with SIGKILL: it starts under setpriv's --pdeathsig, and
/// from one long-lived thread, since the parent-death signal follows the thread that forked
/// (a thread-pool thread would take helpers with it at random).
/// </summary>
internal sealed class HelperProcess : IDisposable
{
    private static readonly BlockingCollection<Action> Queue = new();
    private static readonly Lazy<Thread> Thread = new(() =>
    {
        var t = new Thread(() =>
        {
            foreach (var work in Queue.GetConsumingEnumerable())
                work();
        }) { IsBackground = true, Name = "husk-helpers" };
        t.Start();
        return t;
    });

    private readonly Process _process;

    private HelperProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    /// <summary>The helper's name, for messages.</summary>
    public string Name { get; }

    /// <summary>The helper's pid.</summary>
    public int Pid => _process.Id;

    /// <summary>What the helper wrote to its standard error so far (read once it has exited).</summary>
    public Task<string> StandardError { get; private set; } = Task.FromResult("");

    /// <summary>Starts <paramref name="program"/> with <paramref name="args"/> on the helpers' thread.</summary>
    public static HelperProcess Start(string name, string program, IEnumerable<string> args)
    {
        _ = Thread.Value;
        var psi = new ProcessStartInfo { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        // The runtime ignores SIGPIPE and children inherit that (pasta refuses to start so);
        // coreutils' env gives it back its default, util-linux's setpriv sets the parent-death signal.
        var chain = new List<string>();
        if (HostPrograms.Find("env") is { } env)
            chain.AddRange([env, "--default-signal=PIPE"]);
        if (HostPrograms.Find("setpriv") is { } setpriv)
            chain.AddRange([setpriv, "--pdeathsig", "KILL", "--"]);
        chain.Add(program);
        psi.FileName = chain[0];
        foreach (string c in chain.Skip(1))
            psi.ArgumentList.Add(c);
        foreach (string a in args)
            psi.ArgumentList.Add(a);
        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        Queue.Add(() =>
        {
            try
            {
                started.SetResult(Process.Start(psi)!);
            }
            catch (Exception e)
            {
                started.SetException(e);
            }
        });
        var process = started.Task.GetAwaiter().GetResult();
        process.StandardInput.Close();
        var helper = new HelperProcess(process, name);
        helper.StandardError = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        return helper;
    }

    /// <summary>Whether the helper has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The helper's exit code, once it has exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>A pidfd of the helper (readable when it exits), or null when it is gone.</summary>
    public Interop.SafePidfd? Pidfd() => Interop.Interop.PidfdOpen(_process.Id);

    /// <summary>Stops the helper (SIGKILL: it holds nothing that needs a clean end) and reaps it.</summary>
    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill();
            _process.WaitForExit();
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}
