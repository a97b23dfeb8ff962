using Husk.Launch;

namespace Husk;

/// <summary>Starts sandboxes. Safe to call from any thread, for many sandboxes at once.</summary>
public static class Sandbox
{
    /// <summary>
    /// Starts <paramref name="spec"/> and returns once the payload has been executed. Throws
    /// <see cref="SandboxSpecException"/> for a spec that cannot run (every problem listed) and
    /// <see cref="SandboxSetupException"/> when setting it up failed (naming the step and path).
    /// </summary>
    public static SandboxProcess Start(SandboxSpec spec) => Launcher.Start(spec);

    /// <summary>Starts <paramref name="spec"/> and waits for it; cancellation kills the whole sandbox.</summary>
    public static async Task<SandboxExit> RunAsync(SandboxSpec spec, CancellationToken cancellationToken = default)
    {
        using var process = await Task.Run(() => Launcher.Start(spec), cancellationToken).ConfigureAwait(false);
        return await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
    }
}
