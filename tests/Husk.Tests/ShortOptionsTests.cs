using Husk.Cli.Personalities.Mbox;
using Husk.Cli.Personalities.Try;

namespace Husk.Tests;

/// <summary>The getopt-style short options mbox and try share.</summary>
public class ShortOptionsTests
{
    [Fact]
    public void Flags_cluster_values_attach_or_follow_and_the_operands_start_after_them()
    {
        var m = MboxArguments.Parse(["-nR", "-r/tmp/root", "-p", "prof", "-E", "A=1", "--", "-x", "y"]);
        Assert.Equal((true, true, "/tmp/root", "prof"), (m.NoNetwork, m.FakeRoot, m.Root, m.Profile));
        Assert.Equal(["A=1"], m.Environment);
        Assert.Equal(["-x", "y"], m.Command);
        Assert.Equal(["ls", "-l"], MboxArguments.Parse(["-n", "ls", "-l"]).Command);

        var t = TryArguments.Parse(["-yn", "-Iincl", "-t", "trace.log", "cmd", "-y"]);
        Assert.Equal((TryAfter.Show, "trace.log"), (t.After, t.TraceFile));
        Assert.Equal(["incl"], t.Include);
        Assert.Equal(["cmd", "-y"], t.Rest);
    }

    [Fact]
    public void Unknown_options_and_missing_values_are_usage_errors_and_version_stops()
    {
        Assert.Equal("invalid option -- 'Q'", Assert.Throws<MboxUsage>(() => MboxArguments.Parse(["-Q", "ls"])).Message);
        Assert.Equal("option requires an argument -- 'r'", Assert.Throws<MboxUsage>(() => MboxArguments.Parse(["-r"])).Message);
        Assert.True(Assert.Throws<TryExit>(() => TryArguments.Parse(["-Q"])).Usage);
        Assert.True(Assert.Throws<TryExit>(() => TryArguments.Parse(["-I"])).Usage);
        var v = MboxArguments.Parse(["-V", "-Q"]);
        Assert.True(v.Version);
        Assert.Empty(v.Command);
    }
}
