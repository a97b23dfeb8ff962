using Husk.Launch;
using Husk.Policy;
using Husk.Tracing;
using static Husk.Interop.Interop;

namespace Husk.Tests.Tracing;

/// <summary>The planner derives the trace's filter from the spec and composes it with the other seccomp programs.</summary>
public class TracePlanTests
{
    private static readonly FakeHost Host = new();

    private static List<PlannedOp> SeccompOps(SandboxSpec spec) => [.. SpawnPlanner.Plan(spec, Host.Context()).Ops.Where(o => o.Kind == OpKind.Seccomp)];

    [Fact]
    public void The_trace_filter_comes_after_the_profile_and_never_goes_to_processes_that_join()
    {
        var spec = new SandboxSpecBuilder("/bin/true").Trace("%file").Build();
        var programs = SpawnPlanner.SeccompPrograms(spec);
        Assert.Equal(2, programs.Count);
        Assert.Equal(TraceFilter.Compile(SyscallSet.Parse("%file")).ToArray(), programs[1]);
        var plan = SpawnPlanner.Plan(spec, Host.Context());
        Assert.Equal(2, plan.Ops.Count(o => o.Kind == OpKind.Seccomp));
        // husk enter gives a joining process the walls, not the trace: it has no tracer, and RET_TRACE would fail its calls.
        Assert.Equal(programs[0], Assert.Single(plan.Policy!.Seccomp).ToArray());
        Assert.Single(SpawnPlanner.SeccompPrograms(spec with { Trace = null }));
    }

    [Fact]
    public void With_a_callback_the_listener_stays_on_the_callbacks_filter()
    {
        var spec = new SandboxSpecBuilder("/bin/true").Trace("openat").OnSyscall(["mkdir"], _ => SyscallDecision.Allow).Build();
        var ops = SeccompOps(spec);
        Assert.Equal(3, ops.Count);
        Assert.Equal(TraceFilter.Compile(SyscallSet.Parse("openat")).ToArray(), ops[1].Data);
        Assert.Equal(OpFlags.SendListener, ops[2].Flags & OpFlags.SendListener);
        Assert.Equal((OpFlags)0, (ops[0].Flags | ops[1].Flags) & OpFlags.SendListener);
    }

    [Fact]
    public void With_a_profile_that_notifies_the_listener_is_the_profiles_not_the_traces()
    {
        var notify = new SeccompPolicy { DefaultAction = SeccompAction.Allow, Rules = [new SeccompRule("mkdir", SeccompAction.UserNotify)] };
        var spec = new SandboxSpecBuilder("/bin/true").SeccompProfile(notify).Trace("openat").Build() with { Seccomp = SeccompSpec.Of(notify) with { UserNotification = true } };
        var ops = SeccompOps(spec);
        Assert.Equal(2, ops.Count);
        Assert.Equal(OpFlags.SendListener, ops[0].Flags & OpFlags.SendListener);
        Assert.Equal((OpFlags)0, ops[1].Flags & OpFlags.SendListener);
    }

    [Fact]
    public void The_builder_reads_the_set_and_names_what_it_does_not_know()
    {
        var spec = new SandboxSpecBuilder("/bin/true").Trace("%network").Build();
        Assert.True(spec.Trace!.Events);
        Assert.Null(spec.Trace.Output);
        var e = Assert.Throws<SandboxSpecException>(() => new SandboxSpecBuilder("/bin/true").Trace("opne").Build());
        Assert.Equal("trace: unknown system call: opne", Assert.Single(e.Problems));
        var counted = new SandboxSpecBuilder("/bin/true").CountSyscalls().Build();
        Assert.True(counted.Trace!.Syscalls.IsAll);
        Assert.True(counted.Trace.Count);
        Assert.False(counted.Trace.Events);
    }

    [Fact]
    public void A_trace_that_shows_nothing_is_refused()
    {
        var spec = new SandboxSpecBuilder("/bin/true").Build() with { Trace = new TraceSpec() };
        Assert.Contains(spec.Validate(), p => p.StartsWith("a trace with no output", StringComparison.Ordinal));
        var both = spec with { Trace = new TraceSpec { Output = Descriptors.Borrow(2), OutputFile = "/x" } };
        Assert.Contains(both.Validate(), p => p.Contains("a descriptor or a file", StringComparison.Ordinal));
    }
}
