using System.Collections.Immutable;
using Husk.Cli.Run;
using Husk.Policy;
using Tomlyn.Model;

namespace Husk.Cli.Profiles;

/// <summary>
/// A seccomp policy in TOML: a file given to --seccomp-profile, or the [seccomp] table of a profile.
/// <code>
/// base = "default"                 # start from a built-in policy (default, judge) or another file
/// default-action = "errno:EPERM"   # allow, errno[:N|NAME], kill, kill-thread, trap, log, notify
/// foreign-action = "kill"          # other architectures and x32
/// allow = ["ptrace"]
/// deny = ["socket:EACCES"]
/// [[rule]]
/// syscalls = ["clone"]
/// action = "allow"
/// priority = 0
/// args = [{ index = 0, op = "masked-eq", mask = 0x7E020000, value = 0, bits = 64 }]
/// </code>
/// </summary>
internal static class SeccompFile
{
    private static readonly string[] Keys = ["base", "default-action", "foreign-action", "allow", "deny", "rule"];
    private static readonly string[] RuleKeys = ["syscalls", "action", "priority", "args"];
    private static readonly string[] ArgKeys = ["index", "op", "value", "mask", "high", "bits"];

    public static SeccompPolicy Load(string path)
    {
        string full = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string why = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => "no such built-in profile or file",
                UnauthorizedAccessException => "permission denied",
                _ => ErrorText.Reason(e),
            };
            throw new UsageException($"husk run: --seccomp-profile: {path}: {why} (built-in: {string.Join(", ", SeccompProfiles.BuiltIn.Keys)})");
        }
        var doc = TomlDocument.Parse(text, full);
        // A whole profile file may be given too: then its [seccomp] table is the policy.
        var table = doc.Root.TryGetValue("seccomp", out object? s) && s is TomlTable t && !doc.Root.ContainsKey("default-action") ? t : doc.Root;
        return FromTable(doc, table, Path.GetDirectoryName(full)!);
    }

    public static SeccompPolicy FromTable(TomlDocument doc, TomlTable table, string directory)
    {
        doc.OnlyKeys(table, Keys);
        SeccompPolicy? policy = null;
        if (doc.String(table, "base") is { } baseName)
        {
            policy = SeccompProfiles.BuiltIn.TryGetValue(baseName, out var builtIn) ? builtIn
                : baseName == "none" ? null
                : Load(Path.Combine(directory, baseName));
        }
        if (doc.String(table, "default-action") is { } d)
            policy = (policy ?? new SeccompPolicy { DefaultAction = default }) with { DefaultAction = Action(doc, table, "default-action", d) };
        if (policy is null)
            throw doc.Error(table, "default-action", "missing: say what other system calls get, or start from a base");
        if (doc.String(table, "foreign-action") is { } f)
            policy = policy with { ForeignAction = Action(doc, table, "foreign-action", f) };

        var rules = ImmutableArray.CreateBuilder<SeccompRule>();
        foreach (string name in doc.Strings(table, "allow"))
            rules.Add(new SeccompRule(Known(doc, table, "allow", name), SeccompAction.Allow));
        foreach (string entry in doc.Strings(table, "deny"))
        {
            var (name, errno, problem) = RunState.ParseDenial(entry);
            rules.Add(problem is null ? new SeccompRule(name, SeccompAction.Fail(errno)) : throw doc.Error(table, "deny", problem));
        }
        if (table.TryGetValue("rule", out object? r))
        {
            if (r is not TomlTableArray array)
                throw doc.Error(table, "rule", "expected [[rule]] tables");
            foreach (TomlTable rule in array)
                rules.AddRange(Rule(doc, rule));
        }
        return policy.With(rules.ToImmutable());
    }

    private static IEnumerable<SeccompRule> Rule(TomlDocument doc, TomlTable rule)
    {
        doc.OnlyKeys(rule, RuleKeys);
        var names = doc.Strings(rule, "syscalls");
        if (names.Count == 0)
            throw doc.Error(rule, "syscalls", "a rule names at least one system call");
        var action = Action(doc, rule, "action", doc.String(rule, "action") ?? throw doc.Error(rule, "action", "missing"));
        int priority = rule.TryGetValue("priority", out object? p) ? p is long l ? (int)l : throw doc.Error(rule, "priority", "expected an integer") : 0;
        var conditions = ImmutableArray.CreateBuilder<ArgumentCondition>();
        if (rule.TryGetValue("args", out object? a))
        {
            IEnumerable<TomlTable> args = a switch
            {
                TomlArray arr when arr.All(x => x is TomlTable) => arr.Cast<TomlTable>(),
                TomlTableArray ta => ta,
                _ => throw doc.Error(rule, "args", "expected an array of tables { index, op, value }"),
            };
            foreach (var arg in args)
                conditions.Add(Condition(doc, arg));
        }
        foreach (string name in names)
            yield return new SeccompRule(Known(doc, rule, "syscalls", name), action) { Priority = priority, Conditions = conditions.ToImmutable() };
    }

    private static ArgumentCondition Condition(TomlDocument doc, TomlTable arg)
    {
        doc.OnlyKeys(arg, ArgKeys);
        ulong Number(string key, ulong fallback) => arg.TryGetValue(key, out object? v)
            ? v is long n ? unchecked((ulong)n) : throw doc.Error(arg, key, "expected an integer")
            : fallback;
        int index = (int)Number("index", ulong.MaxValue);
        if (index is < 0 or > 5)
            throw doc.Error(arg, "index", "expected an argument index from 0 to 5");
        string op = doc.String(arg, "op") ?? throw doc.Error(arg, "op", "missing");
        var comparison = op switch
        {
            "eq" or "==" => ArgumentComparison.Equal,
            "ne" or "!=" => ArgumentComparison.NotEqual,
            "lt" or "<" => ArgumentComparison.Less,
            "le" or "<=" => ArgumentComparison.LessOrEqual,
            "gt" or ">" => ArgumentComparison.Greater,
            "ge" or ">=" => ArgumentComparison.GreaterOrEqual,
            "masked-eq" => ArgumentComparison.MaskedEqual,
            "range" => ArgumentComparison.InRange,
            _ => throw doc.Error(arg, "op", $"unknown comparison {op} (eq, ne, lt, le, gt, ge, masked-eq, range)"),
        };
        ulong bits = Number("bits", 64);
        if (bits is not (32 or 64))
            throw doc.Error(arg, "bits", "expected 32 or 64");
        if (comparison == ArgumentComparison.MaskedEqual && !arg.ContainsKey("mask"))
            throw doc.Error(arg, "op", "masked-eq needs a mask");
        if (comparison == ArgumentComparison.InRange && !arg.ContainsKey("high"))
            throw doc.Error(arg, "op", "range needs high (value is the low end)");
        return new ArgumentCondition(index, comparison, Number("value", 0))
        {
            Mask = Number("mask", ulong.MaxValue),
            High = Number("high", 0),
            Is32Bit = bits == 32,
        };
    }

    private static SeccompAction Action(TomlDocument doc, TomlTable table, string key, string text) =>
        SeccompAction.TryParse(text, out var action) ? action
            : throw doc.Error(table, key, $"unknown action {text} (allow, errno[:N|NAME], kill, kill-thread, trap, log, notify)");

    private static string Known(TomlDocument doc, TomlTable table, string key, string name) =>
        SyscallTable.IsKnown(name) ? name : throw doc.Error(table, key, $"unknown system call: {name}");
}
