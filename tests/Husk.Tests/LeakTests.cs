using Husk.Launch;

namespace Husk.Tests;

/// <summary>Tests that count the process's descriptors and the host's mounts: they run alone.</summary>
[Collection("Serial")]
public class LeakTests
{
    [Fact]
    public void Failing_op_names_the_step_and_path_and_leaves_nothing_behind()
    {
        // One launch first, so lazily created process-wide descriptors (husk-init's memfd) exist.
        TestEnvironment.Run(TestEnvironment.Spec("/bin/true"));
        string before = TestEnvironment.HostMounts();
        var fds = TestEnvironment.OpenFds();
        var spec = TestEnvironment.Spec("/bin/true") with
        {
            Mounts = [new TmpfsMount("/x"), new BindMount("/no/such/source", "/x/y")],
        };
        var e = Assert.Throws<SandboxSetupException>(() => Launcher.Start(spec));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Equal("husk: bind mount /no/such/source on /x/y: can't find source /no/such/source: No such file or directory", e.Message);
        Assert.IsType<BindMount>(e.Origin);
        Assert.Equal(before, TestEnvironment.HostMounts());
        Assert.Empty(TestEnvironment.NewFds(fds));
    }

}
