using Husk.Cli;

namespace Husk.Tests;

/// <summary>
/// Messages built from runtime exceptions. The NativeAOT binary has no message resources, so an
/// exception's Message is a resource key there ("IO_FileNotFound_FileName, /x"): these tests use
/// that form, as the binary sees it, and the full form the JIT runtime gives.
/// </summary>
public class ErrorTextTests
{
    [Fact]
    public void Runtime_exceptions_are_worded_from_their_kind_and_errno_not_their_resource_keys()
    {
        Assert.Equal("/x: No such file or directory", ErrorText.Of(new FileNotFoundException("IO_FileNotFound_FileName, /x", "/x")));
        Assert.Equal("/nonexistent: Permission denied", ErrorText.Of(new UnauthorizedAccessException("UnauthorizedAccess_IODenied_Path, /nonexistent")));
        Assert.Equal("/r/v/lib64: No such file or directory", ErrorText.Of(new DirectoryNotFoundException("IO_PathNotFound_Path, /r/v/lib64")));
        // Other errors keep the errno as the HResult.
        Assert.Equal("No space left on device", ErrorText.Of(new IOException("IO_DiskFull", 28)));
        Assert.Equal("invalid handle", ErrorText.Of(new InvalidOperationException("Arg_InvalidHandle")));
        // With resources (the JIT runtime), the path is quoted in a sentence.
        Assert.Equal("/etc/shadow: Permission denied", ErrorText.Of(new UnauthorizedAccessException("Access to the path '/etc/shadow' is denied.")));
        // Husk's own wording stays.
        Assert.Equal("husk run: --root x: not empty", ErrorText.Of(new InvalidOperationException("husk run: --root x: not empty")));
        Assert.Equal("No such file or directory", ErrorText.Detail(new DirectoryNotFoundException("IO_PathNotFound_Path, /a/b"), "/a/b"));
        Assert.Equal("/a: Permission denied", ErrorText.Detail(new UnauthorizedAccessException("UnauthorizedAccess_IODenied_Path, /a"), "/a/b"));
    }

    [Fact]
    public void An_exception_nothing_handled_becomes_one_line_and_status_1()
    {
        var lines = new List<string>();
        int code = LastResort.Run(() => throw new DirectoryNotFoundException("IO_PathNotFound_Path, /r/v/lib64"), lines.Add);
        Assert.Equal(1, code);
        Assert.Equal(["husk: internal error: /r/v/lib64: No such file or directory (DirectoryNotFoundException)"], lines);
        Assert.Equal(7, LastResort.Run(() => 7, lines.Add));
        Assert.Single(lines);
    }

    [Fact]
    public void Every_front_door_ends_with_one_line_when_its_output_fails()
    {
        // A full disk under standard output makes the runtime throw where nothing expects it.
        foreach (string command in new[] { "husk --version", "husk run --help", "husk ps", "husk completion bash" })
        {
            var r = TestEnvironment.Exec("/bin/sh", ["-c", $"exec {TestEnvironment.Artifacts}/bin/{command} >/dev/full"]);
            Assert.Equal(1, r.Code);
            Assert.Equal("husk: internal error: No space left on device (IOException)\n", r.Stderr);
        }
    }
}
