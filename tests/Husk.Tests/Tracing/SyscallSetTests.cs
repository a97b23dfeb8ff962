using Husk.Tracing;

namespace Husk.Tests.Tracing;

/// <summary>--trace's SET, read as strace's -e trace= reads it.</summary>
public class SyscallSetTests
{
    [Fact]
    public void Names_and_classes_union_and_sort()
    {
        var set = SyscallSet.Parse("getppid,%network,openat");
        Assert.False(set.IsAll);
        Assert.Contains("getppid", set.Names);
        Assert.Contains("openat", set.Names);
        Assert.Contains("connect", set.Names);
        Assert.Contains("socket", set.Names);
        Assert.DoesNotContain("read", set.Names);
        Assert.Equal(set.Names.Order(StringComparer.Ordinal), set.Names);
        Assert.True(set.Contains("connect"));
        Assert.False(set.Contains("write"));
    }

    [Theory]
    [InlineData("%file", "openat", "read")]
    [InlineData("%file", "execve", "close")]
    [InlineData("%network", "connect", "openat")]
    [InlineData("%net", "accept4", "open")]
    [InlineData("%process", "clone", "getpid")]
    [InlineData("%process", "wait4", "kill2")]
    [InlineData("%signal", "rt_sigaction", "read")]
    [InlineData("%memory", "mmap", "openat")]
    [InlineData("%desc", "close", "getpid")]
    [InlineData("%%stat", "newfstatat", "statfs")]
    public void Classes_hold_what_strace_puts_in_them(string expression, string member, string other)
    {
        var set = SyscallSet.Parse(expression);
        Assert.Contains(member, set.Names);
        Assert.DoesNotContain(other, set.Names);
    }

    [Fact]
    public void A_leading_bang_takes_every_call_but_those()
    {
        var set = SyscallSet.Parse("!futex,%memory");
        Assert.DoesNotContain("futex", set.Names);
        Assert.DoesNotContain("mmap", set.Names);
        Assert.Contains("openat", set.Names);
        Assert.False(set.IsAll);
        Assert.Empty(SyscallSet.Parse("!all").Names);
    }

    [Fact]
    public void All_none_optional_and_regular_expressions()
    {
        Assert.True(SyscallSet.Parse("all").IsAll);
        Assert.True(SyscallSet.All.Contains("syscall_999"));
        Assert.Empty(SyscallSet.Parse("none").Names);
        Assert.Equal(["openat"], SyscallSet.Parse("?nosuchcall,openat").Names);
        var regex = SyscallSet.Parse("/^getp");
        Assert.Contains("getppid", regex.Names);
        Assert.Contains("getpid", regex.Names);
        Assert.DoesNotContain("gettid", regex.Names);
    }

    [Theory]
    [InlineData("opne", "unknown system call: opne")]
    [InlineData("openat,%files", "unknown class: %files")]
    [InlineData("", "no system call named")]
    [InlineData("openat,,read", "an empty name")]
    [InlineData("/(", "not a regular expression: /(")]
    public void Bad_input_is_one_problem_naming_it(string expression, string problem)
    {
        Assert.False(SyscallSet.TryParse(expression, out _, out string? said));
        Assert.StartsWith(problem, said);
        Assert.DoesNotContain('\n', said!);
        Assert.Throws<FormatException>(() => SyscallSet.Parse(expression));
    }

    [Fact]
    public void The_unknown_class_problem_lists_the_classes()
    {
        SyscallSet.TryParse("%nope", out _, out string? problem);
        Assert.Contains("%file", problem);
        Assert.Contains("%network", problem);
    }

    [Fact]
    public void Sets_with_the_same_calls_are_equal()
    {
        Assert.Equal(SyscallSet.Parse("openat,read"), SyscallSet.Parse("read,openat"));
        Assert.NotEqual(SyscallSet.Parse("openat"), SyscallSet.Parse("read"));
    }
}
