namespace Husk.Tests;

/// <summary>
/// A real terminal for interactive tests: a private tmux server running one command in a
/// window of a given size, read with capture-pane and driven with send-keys.
/// </summary>
/// <remarks>
/// tmux runs the command through the user's shell, which it takes from SHELL or else from the
/// password database; nobody's is nologin, and CI starts with an empty environment, so the shell
/// and the terminal type are pinned here.
/// </remarks>
internal sealed class TestTerminal : IDisposable
{
    private static readonly Dictionary<string, string> Env = new() { ["SHELL"] = "/bin/sh", ["TERM"] = "xterm-256color" };
    private readonly string _socket;
    private readonly string _session;

    /// <summary>The last screen read by <see cref="WaitFor"/> or <see cref="Screen"/>.</summary>
    public string Text { get; private set; } = "";

    public TestTerminal(string socketDir, string command, int width = 150, int height = 50)
    {
        _session = $"t{Guid.NewGuid():N}"[..16];
        _socket = Path.Combine(socketDir, _session + ".sock");
        var (code, _, err) = Tmux("new-session", "-d", "-s", _session, "-x", width.ToString(), "-y", height.ToString(), command);
        Assert.True(code == 0, $"tmux new-session failed: {err}");
    }

    private (int Code, string Stdout, string Stderr) Tmux(params string[] args) =>
        TestEnvironment.Exec("tmux", ["-S", _socket, .. args], env: Env);

    /// <summary>The window's contents, with wrapped lines joined and 200 lines of history.</summary>
    public string Screen() => Text = Tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", _session).Stdout;

    /// <summary>Waits up to <paramref name="seconds"/> for <paramref name="text"/> to appear.</summary>
    public bool WaitFor(string text, int seconds = 15)
    {
        for (int i = 0; i < seconds * 10; i++)
        {
            if (Screen().Contains(text, StringComparison.Ordinal))
                return true;
            Thread.Sleep(100);
        }
        return false;
    }

    /// <summary>A tmux format about the window (e.g. "#{keypad_cursor_flag}": the terminal's modes).</summary>
    public string Format(string format) => Tmux("display-message", "-p", "-t", _session, format).Stdout.Trim();

    /// <summary>Waits up to <paramref name="seconds"/> for a <see cref="Format"/> to read <paramref name="value"/>.</summary>
    public bool WaitForFormat(string format, string value, int seconds = 15)
    {
        for (int i = 0; i < seconds * 10; i++)
        {
            if (Format(format) == value)
                return true;
            Thread.Sleep(100);
        }
        return false;
    }

    /// <summary>Types keys (tmux key names such as "Enter" included).</summary>
    public void Send(params string[] keys) => Tmux(["send-keys", "-t", _session, .. keys]);

    public void Dispose()
    {
        Tmux("kill-server");
        File.Delete(_socket);
    }
}
