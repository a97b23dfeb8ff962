using System.Text.Json;
using System.Text.RegularExpressions;
using Husk.Cli;
using Husk.Cli.Run;
using Husk.Launch;
using Husk.Logging;

namespace Husk.Tests;

/// <summary>The engine's log (ILogSink): what the plan reports, how the CLI writes it, and husk run's options.</summary>
public class LoggingTests
{
    private static readonly FakeHost View = new();

    private static List<LogEvent> Events(SandboxSpec spec) => [.. PlanEvents.Of(spec, SpawnPlanner.Plan(spec, View.Context()))];

    [Fact]
    public void The_plan_reports_its_decisions_at_info_and_each_step_at_debug()
    {
        var spec = new SandboxSpec { Command = ["/usr/bin/sh"], FileSystem = FileSystemSpec.HostReadOnly, SecretsHome = "/home/me", Hostname = "box" };
        var plan = SpawnPlanner.Plan(spec, View.Context());
        var events = PlanEvents.Of(spec, plan).ToList();
        var info = events.Where(e => e.Level == LogLevel.Info).ToDictionary(e => e.Message + (e["path"] is string p ? " " + p : ""));
        Assert.Equal("user,mount,pid,ipc,uts,net,cgroup", info["namespaces"]["new"]);
        Assert.Equal("time", info["namespaces"]["shared"]);
        Assert.Equal("ro", info["filesystem"]["mode"]);
        Assert.Equal("box", info["hostname"]["name"]);
        Assert.Equal("none", info["network"]["mode"]);
        Assert.Equal("written", info["identity"]["id_map"]);
        Assert.Equal("default", info["seccomp"]["profile"]);
        Assert.Equal("on", info["landlock"]["mode"]);
        Assert.Equal("none", info["capabilities"]["kept"]);
        // The home directory's secrets that exist on the (made-up) host, one line each.
        Assert.Contains("hidden /home/me/.ssh", info.Keys);
        Assert.Contains("hidden /home/me/.netrc", info.Keys);
        // One debug line per planned step, in order, naming it.
        var steps = events.Where(e => e.Level == LogLevel.Debug).ToList();
        Assert.Equal(plan.Ops.Count, steps.Count);
        Assert.Equal(plan.Ops.Select(o => o.Description), steps.Select(s => (string)s["what"]!));
    }

    [Fact]
    public void The_network_line_says_whether_the_host_network_is_shared()
    {
        var spec = new SandboxSpec { Command = ["/usr/bin/sh"], FileSystem = FileSystemSpec.HostReadOnly, Namespaces = NamespaceKinds.AllButTime & ~NamespaceKinds.Net, ShowSecrets = true };
        var events = Events(spec);
        Assert.Equal("host", events.Single(e => e.Message == "network")["mode"]);
        Assert.DoesNotContain(events, e => e.Message == "hidden");
        Assert.Equal("net,time", events.Single(e => e.Message == "namespaces")["shared"]);
    }

    [Fact]
    public void A_sink_takes_its_level_and_those_above_it()
    {
        var sink = new LogSink(LogLevel.Warn, json: false, "id");
        Assert.True(sink.IsEnabled(LogLevel.Error));
        Assert.True(sink.IsEnabled(LogLevel.Warn));
        Assert.False(sink.IsEnabled(LogLevel.Info));
        Assert.False(sink.IsEnabled(LogLevel.Debug));
    }

    private static readonly LogEvent Sample = new(new DateTimeOffset(2026, 1, 2, 3, 4, 5, 678, TimeSpan.Zero), LogLevel.Info, "network",
        [new LogField("mode", "none"), new LogField("port", 42), new LogField("up", true), new LogField("note", "two words"), new LogField("gone", null)]);

    [Fact]
    public void Husk_text_lines_name_the_level_and_the_fields()
    {
        Assert.Equal("husk: info: network mode=none port=42 up=true note=\"two words\"", new LogSink(LogLevel.Debug, false, "abc").Format(Sample));
    }

    [Fact]
    public void Json_lines_carry_time_level_sandbox_id_and_the_fields_with_their_types()
    {
        using var doc = JsonDocument.Parse(new LogSink(LogLevel.Debug, true, "abc").Format(Sample));
        var o = doc.RootElement;
        Assert.Equal("2026-01-02T03:04:05.678000Z", o.GetProperty("time").GetString());
        Assert.Equal("info", o.GetProperty("level").GetString());
        Assert.Equal("abc", o.GetProperty("sandbox").GetString());
        Assert.Equal("network", o.GetProperty("msg").GetString());
        Assert.Equal("none", o.GetProperty("mode").GetString());
        Assert.Equal(42, o.GetProperty("port").GetInt32());
        Assert.True(o.GetProperty("up").GetBoolean());
        Assert.False(o.TryGetProperty("gone", out _));
    }

    [Fact]
    public void Slog_lines_are_as_gos_text_and_json_handlers_write_them()
    {
        var sink = new LogSink(LogLevel.Debug, false, "u-1", style: LogStyle.Slog);
        Assert.Matches(new Regex(@"^time=2026-01-02T03:04:05\.678Z level=INFO msg=network pid=\d+ sandbox=u-1 mode=none port=42 up=true note=""two words""$"), sink.Format(Sample));
        using var doc = JsonDocument.Parse(new LogSink(LogLevel.Debug, true, "u-1", style: LogStyle.Slog).Format(Sample));
        Assert.Equal("INFO", doc.RootElement.GetProperty("level").GetString());
        Assert.Equal("2026-01-02T03:04:05.678Z", doc.RootElement.GetProperty("time").GetString());
        Assert.Equal(Environment.ProcessId, doc.RootElement.GetProperty("pid").GetInt32());
        Assert.Equal("\"a\\\"b\"", LogSink.TextValue("a\"b"));
        Assert.Equal("\"\"", LogSink.TextValue(""));
    }

    [Fact]
    public void Husk_run_logs_only_when_asked_and_refuses_unknown_levels_and_formats()
    {
        var plain = RunCommand.Parse(["--fs", "ro", "--", "true"], out _);
        Assert.Null(plain.ToSpec("id").Log);
        var asked = RunCommand.Parse(["--fs", "ro", "--log-level", "debug", "--", "true"], out _);
        var sink = Assert.IsType<LogSink>(asked.ToSpec("id").Log);
        Assert.Equal(LogLevel.Debug, sink.Level);
        Assert.False(sink.Json);
        var json = RunCommand.Parse(["--fs", "ro", "--log-format", "json", "--", "true"], out _);
        var jsonSink = Assert.IsType<LogSink>(json.ToSpec("id").Log);
        Assert.Equal(LogLevel.Error, jsonSink.Level); // errors only unless a level is given
        Assert.True(jsonSink.Json);
        Assert.Contains("unknown level loud", Assert.Throws<UsageException>(() => RunCommand.Parse(["--log-level", "loud", "--", "true"], out _)).Message);
        Assert.Contains("unknown format xml", Assert.Throws<UsageException>(() => RunCommand.Parse(["--log-format", "xml", "--", "true"], out _)).Message);
    }

    [Fact]
    public void Husk_run_writes_json_lines_with_the_setup_and_the_exit_and_nothing_by_default()
    {
        string husk = TestEnvironment.Husk;
        var quiet = TestEnvironment.Exec(husk, ["run", "--fs", "ro", "--", "/bin/sh", "-c", "exit 3"]);
        Assert.Equal(3, quiet.Code);
        Assert.Equal("", quiet.Stderr);
        var r = TestEnvironment.Exec(husk, ["run", "--fs", "ro", "--log-level", "info", "--log-format", "json", "--", "/bin/sh", "-c", "exit 3"]);
        Assert.Equal(3, r.Code);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        string id = lines[0].GetProperty("sandbox").GetString()!;
        Assert.All(lines, l => Assert.Equal(id, l.GetProperty("sandbox").GetString()));
        Assert.All(lines, l => Assert.True(DateTimeOffset.TryParse(l.GetProperty("time").GetString(), out _)));
        var messages = lines.Select(l => l.GetProperty("msg").GetString()).ToList();
        Assert.Equal(["namespaces", "filesystem"], messages.Take(2));
        Assert.Contains("started", messages);
        var exited = lines.Single(l => l.GetProperty("msg").GetString() == "exited");
        Assert.Equal(3, exited.GetProperty("status").GetInt32());
        Assert.DoesNotContain(lines, l => l.GetProperty("level").GetString() == "debug");
    }

    [Fact]
    public void With_json_logs_husk_runs_own_error_is_a_json_line()
    {
        var r = TestEnvironment.Exec(TestEnvironment.Husk, ["run", "--fs", "ro", "--log-format", "json", "--", "/nonexistent/program"]);
        Assert.Equal(127, r.Code);
        var line = JsonDocument.Parse(r.Stderr.Trim()).RootElement;
        Assert.Equal("error", line.GetProperty("level").GetString());
        Assert.Contains("/nonexistent/program", line.GetProperty("msg").GetString());
    }
}
