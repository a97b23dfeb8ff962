using System.Text;
using System.Text.Json;
using Husk.Cli.Run;
using Husk.Native;

namespace Husk.Tests;

/// <summary>
/// libhusk's JSON spec: husk run's options read by husk run's table, every problem listed at
/// once, the streams, and the published schemas (docs/schema) kept equal to what the code takes
/// and writes. After checking a schema diff, HUSK_UPDATE_SCHEMA=1 rewrites husk-spec.schema.json.
/// </summary>
public class LibrarySpecTests
{
    private static LibrarySpec Parse(string json) => LibrarySpec.Parse(json, "t");

    [Fact]
    public void Options_mean_what_they_mean_on_husk_run_s_command_line()
    {
        var spec = Parse("""{"command": ["/bin/make", "-j4"], "options": [["--memory", "512M"], ["--time-limit=2s"], ["--fs", "ro"], ["--bind", "/src", "/dst"], ["--share-net"]]}""");
        var s = spec.Sandbox;
        Assert.Equal(["/bin/make", "-j4"], s.Command);
        Assert.Equal(512L << 20, s.Limits.MemoryBytes);
        Assert.Equal(TimeSpan.FromSeconds(2), s.Limits.CpuTime);
        Assert.IsType<HostReadOnlyFileSystem>(s.FileSystem);
        Assert.Contains(s.Mounts, m => m is BindMount { Source: "/src", Destination: "/dst" });
        Assert.False(s.Namespaces.HasFlag(NamespaceKinds.Net));
        // husk run's defaults where the spec says nothing; a session of its own, never the caller's terminal.
        var bare = Parse("""{"command": ["true"]}""").Sandbox;
        Assert.IsType<HostOverlayFileSystem>(bare.FileSystem);
        Assert.Equal(NamespaceKinds.AllButTime, bare.Namespaces);
        Assert.True(bare.NewSession);
        Assert.Null(bare.ForegroundTerminal);
    }

    [Fact]
    public void Every_problem_is_listed_at_once()
    {
        var e = Assert.Throws<LibrarySpecException>(() => Parse(
            """{"command": [], "options": [["--memory"], ["--tty"], ["--bogus"], [], "x"], "stdin": 3.5, "stdout": "file", "syscalls": ["nope"], "extra": 1}"""));
        Assert.Equal(
        [
            "command is empty: name the program to run",
            "options[0]: --memory takes SIZE",
            "options[1]: --tty is not for the library: a terminal of the sandbox's own is husk run's",
            "options[2]: unknown option --bogus (see husk run --help)",
            "options[3] is empty: name an option of husk run",
            "options[4] must be an array of strings",
            "stdin must be \"inherit\", \"null\", \"pipe\" or a descriptor number",
            "stdout must be \"inherit\", \"null\", \"pipe\" or a descriptor number",
            "syscalls: unknown system call: nope (or [\"*\"] for every one)",
            "unknown key extra: a spec holds command, options, stdin, stdout, stderr, syscalls, trace_policy",
        ], e.Problems);
    }

    [Fact]
    public void Values_husk_run_refuses_are_refused_in_its_words_without_its_name()
    {
        var e = Assert.Throws<LibrarySpecException>(() => Parse("""{"command": ["true"], "options": [["--memory", "12x"]]}"""));
        Assert.Equal(["--memory: 12x: expected a size such as 512M, 1.5G or 2GB"], e.Problems);
        Assert.Equal(["no command given: add \"command\": [\"program\", \"arg\", ...]"], Assert.Throws<LibrarySpecException>(() => Parse("{}")).Problems);
        Assert.Equal(["the spec is not valid JSON (line 1, byte 13)"], Assert.Throws<LibrarySpecException>(() => Parse("""{"command": }""")).Problems);
    }

    [Fact]
    public void Streams_and_the_policy_s_calls()
    {
        var spec = Parse("""{"command": ["true"], "stdin": "null", "stdout": "pipe", "stderr": 7, "syscalls": ["openat", "connect"]}""");
        Assert.Equal([new StreamSpec(StreamChoice.Null), new StreamSpec(StreamChoice.Pipe), new StreamSpec(StreamChoice.Descriptor, 7)], spec.Streams);
        Assert.Equal(["openat", "connect"], spec.Syscalls);
        var all = Parse("""{"command": ["true"], "syscalls": ["*"]}""").Syscalls;
        Assert.Equal(Husk.Policy.SyscallTable.Native.Names.Count(), all.Length);
        Assert.Contains("execve", all);
    }

    [Fact]
    public void The_result_schema_names_every_key_of_the_report_and_no_other()
    {
        var result = new SandboxResult
        {
            Exit = new SandboxExit { ExitCode = 0 },
            Usage = new ResourceUsage(),
            Verdict = Verdict.OK,
            Message = "exited with status 0",
            Limits = ResourceLimits.None with { CpuTime = TimeSpan.FromSeconds(1) },
        };
        var report = JsonDocument.Parse(ResultReport.ToJson(result, "/var/tmp/root")).RootElement;
        var schema = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Schema", "husk-result.schema.json"))).RootElement;
        var keys = report.EnumerateObject().Select(p => p.Name).ToList();
        // Every key but syscall_counts and network, which only a run that counted calls or saw a network has.
        Assert.Equal(schema.GetProperty("properties").EnumerateObject().Select(p => p.Name).Where(n => n is not ("syscall_counts" or "network")).Order(), keys.Order());
        Assert.Equal(schema.GetProperty("required").EnumerateArray().Select(e => e.GetString()!).Order(), keys.Order());
        Assert.Equal("/var/tmp/root", report.GetProperty("layer").GetString());
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(ResultReport.ToJson(result)).RootElement.GetProperty("layer").ValueKind);
    }

    [Fact]
    public void The_spec_schema_names_every_option_the_library_takes()
    {
        string text = SpecSchema();
        if (Environment.GetEnvironmentVariable("HUSK_UPDATE_SCHEMA") == "1")
        {
            File.WriteAllText(Path.Combine(TestEnvironment.Repository, "docs", "schema", "husk-spec.schema.json"), text);
            return;
        }
        string file = Path.Combine(AppContext.BaseDirectory, "Schema", "husk-spec.schema.json");
        Assert.True(File.Exists(file), $"no {file}: run with HUSK_UPDATE_SCHEMA=1 to write it");
        Assert.Equal(File.ReadAllText(file), text);
    }

    /// <summary>The spec's schema: one entry per option of husk run the library takes, with its values and help.</summary>
    private static string SpecSchema()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("$schema", "https://json-schema.org/draft/2020-12/schema");
            w.WriteString("$id", "https://husk.invalid/schema/husk-spec.schema.json");
            w.WriteString("title", "Husk spec");
            w.WriteString("description", "A sandbox as libhusk takes it (husk.h): the command, husk run's options in the order they apply (the same names, values, validation and defaults as on its command line), the standard streams, and the system calls a policy callback decides. Generated from husk run's option table by LibrarySpecTests.");
            w.WriteString("type", "object");
            w.WriteStartArray("required");
            w.WriteStringValue("command");
            w.WriteEndArray();
            w.WriteBoolean("additionalProperties", false);
            w.WriteStartObject("properties");
            w.WriteStartObject("command");
            w.WriteString("description", "The program (looked up in PATH when it has no slash) and its arguments.");
            w.WriteString("type", "array");
            w.WriteNumber("minItems", 1);
            w.WriteStartObject("items");
            w.WriteString("type", "string");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("options");
            w.WriteString("description", "husk run's options in order, each an array of the option and its values.");
            w.WriteString("type", "array");
            w.WriteStartObject("items");
            w.WriteString("$ref", "#/$defs/option");
            w.WriteEndObject();
            w.WriteEndObject();
            foreach (var (stream, what) in new[] { ("stdin", "input"), ("stdout", "output"), ("stderr", "error") })
            {
                w.WriteStartObject(stream);
                w.WriteString("description", $"Standard {what}: \"inherit\" (the caller's, the default), \"null\", \"pipe\" (husk_start; husk_stdio gives the caller's end) or a descriptor of the caller, which the payload gets as it is.");
                w.WriteString("$ref", "#/$defs/stream");
                w.WriteEndObject();
            }
            w.WriteStartObject("syscalls");
            w.WriteString("description", "The system calls the policy callback decides; [\"*\"] for every one.");
            w.WriteString("type", "array");
            w.WriteStartObject("items");
            w.WriteString("type", "string");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("trace_policy");
            w.WriteString("description", "true: the policy callback is called from ptrace stops (libsandbox's way) rather than seccomp user notification, at each call's entry and return and for each signal delivered; default false.");
            w.WriteString("type", "boolean");
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("$defs");
            w.WriteStartObject("stream");
            w.WriteStartArray("oneOf");
            w.WriteStartObject();
            w.WriteStartArray("enum");
            foreach (string v in new[] { "inherit", "null", "pipe" })
                w.WriteStringValue(v);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteString("type", "integer");
            w.WriteNumber("minimum", 0);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("option");
            w.WriteStartArray("oneOf");
            foreach (var o in RunOptions.All.Where(o => !LibrarySpec.Refused.ContainsKey(o.Name)).OrderBy(o => o.Name, StringComparer.Ordinal))
            {
                foreach (string name in o.Aliases.Prepend(o.Name))
                {
                    w.WriteStartObject();
                    w.WriteString("description", o.Help);
                    w.WriteString("type", "array");
                    w.WriteStartArray("prefixItems");
                    w.WriteStartObject();
                    w.WriteString("const", name);
                    w.WriteEndObject();
                    foreach (string arg in o.Args)
                    {
                        w.WriteStartObject();
                        w.WriteString("type", "string");
                        w.WriteString("title", arg);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteNumber("minItems", 1 + o.Args.Length);
                    w.WriteBoolean("items", false);
                    w.WriteEndObject();
                }
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }
}
