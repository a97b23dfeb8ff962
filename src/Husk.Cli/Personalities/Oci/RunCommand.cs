namespace Husk.Cli.Personalities.Oci;

/// <summary>
/// <c>run</c>: create and start at once. With --detach husk-runtime leaves as after create;
/// otherwise it waits for the container's init (relaying its terminal when no console socket was
/// given), deletes the container and exits with the init's status, as runc run does.
/// </summary>
internal static class RunCommand
{
    public static readonly OciOption[] Options =
    [
        .. CreateCommand.Options, new(["detach", "d"], false), new(["keep"], false), new(["no-subreaper"], false),
    ];

    public static int Run(OciContext ctx, string[] args)
    {
        var line = OciCommandLine.Parse(args, Options, command: "run");
        string id = OciPersonality.OneId(line, "run");
        bool detach = line.Flag("detach");
        var (state, process) = CreateCommand.CreateContainer(ctx, id, line, keepTerminal: !detach);
        try
        {
            LifecycleCommands.Release(ctx, state);
        }
        catch
        {
            LifecycleCommands.KillAndWait(state);
            LifecycleCommands.Destroy(ctx, state);
            process.Release();
            throw;
        }
        var config = ctx.Store.LoadConfig(id);
        OciHookRunner.RunAllWarning("poststart", config.Hooks.Poststart, state.ToSpecJson("running", false), state.Bundle, ctx.Log);
        if (detach)
        {
            process.Release();
            return 0;
        }
        int status;
        try
        {
            status = process.TerminalMaster is { } master && line.Value("console-socket") is null
                ? OciTerminal.Relay(master, state.Pid)
                : OciTerminal.Wait(state.Pid);
        }
        finally
        {
            process.Release();
        }
        if (!line.Flag("keep"))
        {
            LifecycleCommands.KillAndWait(state);
            LifecycleCommands.Destroy(ctx, state);
        }
        return status;
    }
}
