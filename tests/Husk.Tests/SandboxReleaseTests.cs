using Husk.Launch;
using Husk.Network;

namespace Husk.Tests;

/// <summary>SandboxProcess.Release: letting go of a detached sandbox leaves nothing of the supervisor's open.</summary>
public class SandboxReleaseTests
{
    [Fact]
    public void Release_ends_the_supervisors_side_of_the_network()
    {
        string dir = TestEnvironment.ScratchDirectory("release");
        try
        {
            string log = Path.Combine(dir, "net.log");
            // This process stands in for the sandbox: Release only closes its pidfd, it signals nothing.
            var pidfd = Interop.Interop.PidfdOpen(Environment.ProcessId)!;
            var process = new SandboxProcess(pidfd, Environment.ProcessId, Environment.ProcessId, null, null)
            {
                Network = new NetworkSession(new NetworkPlan { Spec = NetworkSpec.None with { LogFile = log }, ModeName = "none" }),
            };
            // The session holds its log open (and, for nat or bridge, its helper and lease): Release left all of it.
            Assert.Contains(TestEnvironment.OpenFds(), f => f.EndsWith(" -> " + log, StringComparison.Ordinal));
            process.Release();
            Assert.DoesNotContain(TestEnvironment.OpenFds(), f => f.EndsWith(" -> " + log, StringComparison.Ordinal));
            Assert.True(pidfd.IsClosed);
        }
        finally
        {
            TestEnvironment.DeleteTree(dir);
        }
    }
}
