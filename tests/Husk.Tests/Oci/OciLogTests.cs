using Husk.Cli.Personalities.Oci;

namespace Husk.Tests.Oci;

/// <summary>runc's log lines as engines read them back.</summary>
public class OciLogTests
{
    [Fact]
    public void Json_lines_carry_a_utc_time_that_gos_time_parser_reads_unescaped()
    {
        // containerd 1.6's shim decodes "time" with time.Time's UnmarshalJSON, which parses the quoted
        // bytes without unescaping them: "+01:00" written as "\u002B01:00" failed every error read.
        var at = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(1));
        Assert.Equal("""{"level":"error","msg":"container not running","time":"2026-01-02T02:04:05.0000000Z"}""",
            new OciLog(null, "json", false).Format("error", "container not running", at));
        Assert.Equal("time=\"2026-01-02T02:04:05.0000000Z\" level=warning msg=\"say \\\"hi\\\"\"",
            new OciLog(null, "text", false).Format("warning", "say \"hi\"", at));
    }
}
