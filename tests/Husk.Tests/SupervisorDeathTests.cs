using System.Diagnostics;
using Husk.Tests.Network;

namespace Husk.Tests;

/// <summary>
/// A husk killed with SIGKILL runs no clean-up code: the sandbox must go with it all the same
/// (its parent-death signal). As root the sandbox's ids change to a subordinate range, which
/// clears that signal unless it is armed again.
/// </summary>
[Trait("Category", "Root")]
public sealed class SupervisorDeathTests
{
    private readonly string _dir = TestEnvironment.ScratchDirectory("death");

    [Fact]
    public void Killing_husk_takes_the_sandbox_along_as_root()
    {
        if (!TestEnvironment.IsRoot)
            Assert.Skip("needs root");
        var psi = new ProcessStartInfo(TestEnvironment.Husk) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _dir };
        foreach (string a in new[] { "run", "--fs", "ro", "--", "sh", "-c", "echo up; exec sleep 600" })
            psi.ArgumentList.Add(a);
        using var husk = Process.Start(psi)!;
        Assert.Equal("up", husk.StandardOutput.ReadLine());
        var sandbox = ProcessTree.Descendants(husk.Id).Select(Interop.Interop.PidfdOpen).OfType<Interop.SafePidfd>().ToList();
        Assert.NotEmpty(sandbox);
        husk.Kill(); // SIGKILL
        husk.WaitForExit();
        foreach (var fd in sandbox)
        {
            using (fd)
                Assert.True(ProcessTree.WaitGone(fd, 10_000), "the sandbox outlived husk");
        }
    }
}
