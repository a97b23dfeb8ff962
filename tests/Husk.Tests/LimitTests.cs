using System.Text.Json;
using Husk.Resources;

namespace Husk.Tests;

/// <summary>Limit values with units, the verdict rules, the peers' codes and the report formats: pure parts.</summary>
public class LimitTests
{
    [Theory]
    [InlineData("512M", 512L << 20)]
    [InlineData("1.5G", 3L << 29)]
    [InlineData("4096", 4096L)]
    [InlineData("64k", 64L << 10)]
    [InlineData("2MiB", 2L << 20)]
    [InlineData("100B", 100L)]
    [InlineData("2GB", 2L << 30)]
    public void Sizes_take_units(string text, long bytes)
    {
        Assert.True(LimitUnits.TryParseSize(text, out long n));
        Assert.Equal(bytes, n);
    }

    [Fact]
    public void Every_size_option_of_husk_run_reads_sizes_alike()
    {
        var sizeOptions = global::Husk.Cli.Run.RunOptions.All.Where(o => o.Args is ["SIZE"]).Select(o => o.Name).ToList();
        Assert.Equal(["--address-space", "--memory", "--output-limit", "--size", "--stack", "--storage"], sizeOptions.Order(StringComparer.Ordinal));
        foreach (string option in sizeOptions)
        {
            foreach (var (text, bytes) in new[] { ("4096", 4096L), ("512M", 512L << 20), ("1.5G", 3L << 29), ("2GB", 2L << 30), ("2GiB", 2L << 30) })
            {
                var state = new global::Husk.Cli.Run.RunArguments();
                global::Husk.Cli.Run.RunOptions.Find(option)!.Apply(state, [text]);
                long? read = option switch
                {
                    "--storage" => state.StorageSize,
                    "--size" => state.PendingSize,
                    "--memory" => state.Spec.Current.Limits.MemoryBytes,
                    "--address-space" => state.Spec.Current.Limits.AddressSpaceBytes,
                    "--output-limit" => state.Spec.Current.Limits.OutputBytes,
                    _ => state.Spec.Current.Limits.StackBytes,
                };
                Assert.True(read == bytes, $"{option} {text}: {read}");
            }
            var e = Assert.Throws<global::Husk.Cli.Run.UsageException>(() => global::Husk.Cli.Run.RunOptions.Find(option)!.Apply(new global::Husk.Cli.Run.RunArguments(), ["12x"]));
            Assert.Equal($"husk run: {option}: 12x: expected a size such as 512M, 1.5G or 2GB", e.Message);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1M")]
    [InlineData("12X")]
    [InlineData("M")]
    [InlineData("0")]
    public void Bad_sizes_are_refused(string text) => Assert.False(LimitUnits.TryParseSize(text, out _));

    [Theory]
    [InlineData("1.5s", 1500)]
    [InlineData("250ms", 250)]
    [InlineData("2", 2000)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    public void Durations_take_units(string text, double ms)
    {
        Assert.True(LimitUnits.TryParseDuration(text, out var d));
        Assert.Equal(ms, d.TotalMilliseconds, 3);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-1s")]
    [InlineData("1d")]
    [InlineData("0s")]
    public void Bad_durations_are_refused(string text) => Assert.False(LimitUnits.TryParseDuration(text, out _));

    [Fact]
    public void Validation_lists_every_problem()
    {
        var limits = new ResourceLimits { CpuTime = TimeSpan.Zero, MemoryBytes = -1, Cpus = 0, CgroupParent = "relative" };
        Assert.Equal(4, limits.Validate().Length);
        Assert.Empty(new ResourceLimits { CpuTime = TimeSpan.FromSeconds(1), Cpus = 0.5 }.Validate());
    }

    private static SandboxExit Signalled(int sig) => new() { Signal = sig };
    private static SandboxExit Exited(int code) => new() { ExitCode = code };

    public static TheoryData<string, int?, int?, bool, string, string, string?> Cases => new()
    {
        // case, exit code, signal, OOM seen, verdict, libsandbox, isolate
        { "exit 0", 0, null, false, "OK", "OK", null },
        { "exit 3", 3, null, false, "RuntimeError", "AT", "RE" },
        { "SIGSEGV", null, 11, false, "RuntimeError", "RT", "SG" },
        { "self SIGKILL", null, 9, false, "RuntimeError", "RT", "SG" },
        { "OOM killer", null, 9, true, "MemoryLimit", "ML", "SG" },
        { "SIGXFSZ", null, 25, false, "OutputLimit", "OL", "SG" },
        { "SIGSYS", null, 31, false, "RestrictedFunction", "RF", "SG" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Verdicts_follow_how_the_payload_ended(string what, int? code, int? sig, bool oom, string verdict, string libsandbox, string? isolate)
    {
        var exit = sig is { } s ? Signalled(s) : Exited(code!.Value);
        var limits = new ResourceLimits { MemoryBytes = 1 << 20, OutputBytes = 1 << 20, CpuTime = TimeSpan.FromSeconds(1) };
        var (v, message) = VerdictRules.Decide(exit, limits, new ResourceUsage { OomKilled = oom, UserTime = TimeSpan.FromSeconds(0.1) }, null);
        Assert.True(verdict == v.ToString(), $"{what}: {v} ({message})");
        Assert.Equal(libsandbox, VerdictCodes.Libsandbox(v, exit.Signal));
        Assert.Equal(isolate, VerdictCodes.Isolate(v, exit.Signal));
    }

    [Fact]
    public void SIGKILL_is_a_time_limit_only_with_the_CPU_time_to_match()
    {
        var limits = new ResourceLimits { CpuTime = TimeSpan.FromSeconds(1) };
        var (under, _) = VerdictRules.Decide(Signalled(9), limits, new ResourceUsage { UserTime = TimeSpan.FromSeconds(0.2) }, null);
        var (over, _) = VerdictRules.Decide(Signalled(9), limits, new ResourceUsage { UserTime = TimeSpan.FromSeconds(1.2) }, null);
        Assert.Equal(Verdict.RuntimeError, under);
        Assert.Equal(Verdict.TimeLimit, over);
    }

    [Fact]
    public void The_supervisors_kill_decides_over_the_signal()
    {
        var (v, m) = VerdictRules.Decide(Signalled(9), new ResourceLimits { WallTime = TimeSpan.FromSeconds(1) }, new ResourceUsage(), (Verdict.WallTimeLimit, "wall"));
        Assert.Equal(Verdict.WallTimeLimit, v);
        Assert.Equal("wall", m);
        Assert.Equal("TL", VerdictCodes.Libsandbox(v, 9));
        Assert.Equal("TO", VerdictCodes.Isolate(v, 9));
        Assert.Equal("IE", VerdictCodes.Libsandbox(Verdict.InternalError, null));
        Assert.Equal("XX", VerdictCodes.Isolate(Verdict.InternalError, null));
    }

    private static SandboxResult Result(Verdict verdict, SandboxExit exit, string backend = "rlimit") => new()
    {
        Exit = exit,
        Verdict = verdict,
        Message = "m",
        Backend = backend,
        KilledBySupervisor = verdict is Verdict.TimeLimit,
        Limits = new ResourceLimits { CpuTime = TimeSpan.FromSeconds(2), MemoryBytes = 64 << 20 },
        Usage = new ResourceUsage
        {
            UserTime = TimeSpan.FromSeconds(1.5), SystemTime = TimeSpan.FromSeconds(0.5), WallTime = TimeSpan.FromSeconds(3),
            PeakMemoryBytes = 40 << 20, StdoutBytes = 10, StderrBytes = 5,
        },
    };

    [Fact]
    public void Json_report_has_the_verdict_usage_backend_and_limits()
    {
        var json = JsonDocument.Parse(ResultReport.ToJson(Result(Verdict.TimeLimit, Signalled(9)))).RootElement;
        Assert.Equal("TimeLimit", json.GetProperty("verdict").GetString());
        Assert.Equal("TL", json.GetProperty("libsandbox").GetString());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("exit_code").ValueKind);
        Assert.Equal(9, json.GetProperty("signal").GetInt32());
        Assert.Equal(2.0, json.GetProperty("cpu_time_s").GetDouble(), 6);
        Assert.Equal(3.0, json.GetProperty("wall_time_s").GetDouble(), 6);
        Assert.Equal(40 << 20, json.GetProperty("peak_memory_bytes").GetInt64());
        Assert.Equal(15, json.GetProperty("output_bytes").GetInt64());
        Assert.Equal("rlimit", json.GetProperty("backend").GetString());
        Assert.Equal(2.0, json.GetProperty("limits").GetProperty("cpu_time_s").GetDouble());
        Assert.Equal(64 << 20, json.GetProperty("limits").GetProperty("memory_bytes").GetInt64());
    }

    [Fact]
    public void Json_report_has_a_network_object_when_the_supervisor_saw_the_network()
    {
        Assert.False(JsonDocument.Parse(ResultReport.ToJson(Result(Verdict.OK, Signalled(9)))).RootElement.TryGetProperty("network", out _));
        var t = DateTimeOffset.UnixEpoch;
        var network = new NetworkActivity
        {
            Mode = "allowlist",
            Events =
            [
                new NetworkEvent { Time = t, Pid = 7, Protocol = "dns", Name = "other.test", Port = 53, Verdict = "refused", Reason = "no rule allows this name" },
                new NetworkEvent { Time = t, Protocol = "tcp", Name = "web.test", Address = "127.0.0.3", Port = 80, Verdict = "allowed", BytesSent = 10, BytesReceived = 300 },
            ],
        };
        var json = JsonDocument.Parse(ResultReport.ToJson(Result(Verdict.OK, Signalled(9)) with { Network = network })).RootElement.GetProperty("network");
        Assert.Equal(("allowlist", 1, 1, 10, 300), (json.GetProperty("mode").GetString(), json.GetProperty("allowed").GetInt32(), json.GetProperty("refused").GetInt32(),
            json.GetProperty("bytes_sent").GetInt64(), json.GetProperty("bytes_received").GetInt64()));
        var events = json.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(("other.test", 7, "refused"), (events[0].GetProperty("name").GetString(), events[0].GetProperty("pid").GetInt32(), events[0].GetProperty("verdict").GetString()));
        Assert.Equal(("tcp", "127.0.0.3", 80), (events[1].GetProperty("protocol").GetString(), events[1].GetProperty("address").GetString(), events[1].GetProperty("port").GetInt32()));
    }

    [Fact]
    public void Meta_file_is_isolates()
    {
        var meta = ParseMeta(ResultReport.ToIsolateMeta(Result(Verdict.TimeLimit, Signalled(9), "cgroup1")));
        Assert.Equal("2.000", meta["time"]);
        Assert.Equal("3.000", meta["time-wall"]);
        Assert.Equal((40 << 10).ToString(), meta["max-rss"]);
        Assert.Equal((40 << 10).ToString(), meta["cg-mem"]);
        Assert.Equal("9", meta["exitsig"]);
        Assert.Equal("1", meta["killed"]);
        Assert.Equal("TO", meta["status"]);
        Assert.Equal("Time limit exceeded", meta["message"]);

        var ok = ParseMeta(ResultReport.ToIsolateMeta(Result(Verdict.OK, Exited(0))));
        Assert.Equal("0", ok["exitcode"]);
        Assert.False(ok.ContainsKey("status"));
        Assert.False(ok.ContainsKey("cg-mem"));
        var re = ParseMeta(ResultReport.ToIsolateMeta(Result(Verdict.RuntimeError, Exited(3))));
        Assert.Equal("RE", re["status"]);
        Assert.Equal("Exited with error status 3", re["message"]);
    }

    private static Dictionary<string, string> ParseMeta(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1]);

    [Fact]
    public void A_cut_file_is_one_modified_in_the_run_and_longer_than_the_limit()
    {
        string dir = TestEnvironment.ScratchDirectory("cutfiles");
        try
        {
            var since = DateTime.UtcNow - TimeSpan.FromSeconds(1);
            Directory.CreateDirectory(Path.Combine(dir, "upper", "sub"));
            File.WriteAllBytes(Path.Combine(dir, "upper", "exact"), new byte[100]); // reached the limit, not past it
            File.WriteAllBytes(Path.Combine(dir, "upper", "old"), new byte[500]);
            File.SetLastWriteTimeUtc(Path.Combine(dir, "upper", "old"), since - TimeSpan.FromHours(1)); // copied up, not written
            var places = new List<(string, string)> { (Path.Combine(dir, "upper"), "/data") };
            Assert.Null(CutFiles.Find(places, 100, since, out bool exhausted));
            Assert.False(exhausted);
            File.WriteAllBytes(Path.Combine(dir, "upper", "sub", "cut"), new byte[101]);
            Assert.Equal("/data/sub/cut", CutFiles.Find(places, 100, since, out _));

            var spec = TestEnvironment.Spec("true") with
            {
                Mounts =
                [
                    new OverlayMount("/data", ["/x"]) { Kind = OverlayKind.Persistent, Upper = "/u", Work = "/w" },
                    new OverlayMount("/t", ["/x"]) { Kind = OverlayKind.Temporary },
                    new BindMount("/y", "/y"),
                ],
            };
            Assert.Equal([("/u", "/data")], CutFiles.Places(spec.Mounts));
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }

    [Fact]
    public void Supervised_plans_set_the_payloads_rlimits()
    {
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Limits = new ResourceLimits
            {
                CpuTime = TimeSpan.FromSeconds(1.5), OutputBytes = 1000, OpenFiles = 64, StackBytes = 8 << 20, AddressSpaceBytes = 1L << 30, Processes = 10,
            },
        };
        var plan = Launch.SpawnPlanner.Plan(spec, new Launch.HostContext { Uid = 1000, Gid = 1000, WorkingDirectory = "/" });
        var rlimits = plan.Ops.Where(o => o.Kind == Husk.Interop.Interop.OpKind.Rlimit).ToDictionary(o => (int)o.A, o => (o.B, o.C));
        Assert.Equal((0UL, 0UL), rlimits[Launch.SpawnPlanner.RLIMIT_CORE]);
        Assert.Equal((3UL, 4UL), rlimits[Launch.SpawnPlanner.RLIMIT_CPU]);
        // One byte above the limit: a file cut there was written past it (CutFiles).
        Assert.Equal((1001UL, 1001UL), rlimits[Launch.SpawnPlanner.RLIMIT_FSIZE]);
        Assert.Equal((64UL, 64UL), rlimits[Launch.SpawnPlanner.RLIMIT_NOFILE]);
        Assert.Equal((8UL << 20, 8UL << 20), rlimits[Launch.SpawnPlanner.RLIMIT_STACK]);
        Assert.Equal((1UL << 30, 1UL << 30), rlimits[Launch.SpawnPlanner.RLIMIT_AS]);
        Assert.Equal((11UL, 11UL), rlimits[Launch.SpawnPlanner.RLIMIT_NPROC]);
        Assert.DoesNotContain(Launch.SpawnPlanner.Plan(TestEnvironment.Spec("/bin/true"), new Launch.HostContext { Uid = 1000, Gid = 1000, WorkingDirectory = "/" }).Ops, o => o.Kind == Husk.Interop.Interop.OpKind.Rlimit);
    }
}
