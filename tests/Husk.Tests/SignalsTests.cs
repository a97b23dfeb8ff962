using System.Runtime.InteropServices;
using Husk.Resources;
using static Husk.Interop.Interop;
using static Husk.Interop.Interop.Signals;

namespace Husk.Tests;

/// <summary>Signal numbers, masks and .NET's signal values: one table for the engine and the front doors.</summary>
public class SignalsTests
{
    [Fact]
    public void A_mask_names_its_signals_in_order()
    {
        Assert.Equal([SIGHUP, SIGTERM, 64], InMask(Bit(SIGTERM) | Bit(64) | Bit(SIGHUP)));
        Assert.Empty(InMask(0));
        Assert.Equal(0x8000_0000_0000_0000UL, Bit(SignalKillTree));
    }

    [Fact]
    public void Husk_init_reads_the_forwarded_signals_and_its_own()
    {
        Assert.Equal([SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGWINCH], InMask(ForwardedSignals));
        Assert.Equal([SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGTERM, SIGCHLD, SIGWINCH, SignalKillTree], InMask(InitSignals));
    }

    [Fact]
    public void Signal_numbers_round_trip_through_dotnet_values()
    {
        for (int sig = 1; sig <= 64; sig++)
            Assert.Equal(sig, FromPosixSignal(ToPosixSignal(sig)));
        Assert.Equal(PosixSignal.SIGTERM, ToPosixSignal(SIGTERM));
        Assert.Equal((PosixSignal)SIGUSR1, ToPosixSignal(SIGUSR1));
    }

    [Fact]
    public void Names_and_numbers_parse_as_kill_takes_them()
    {
        Assert.Equal(SIGTERM, Parse("TERM"));
        Assert.Equal(SIGTERM, Parse("sigterm"));
        Assert.Equal(SIGKILL, Parse("9"));
        Assert.Equal(64, Parse("64"));
        Assert.Null(Parse("65"));
        Assert.Null(Parse("0"));
        Assert.Null(Parse("BOGUS"));
        Assert.Null(Parse(""));
    }

    [Fact]
    public void Every_named_signal_names_itself_and_real_time_ones_have_no_name()
    {
        for (int sig = 1; sig <= 31; sig++)
            Assert.Equal(sig, Parse(Name(sig)!));
        Assert.Equal("SIGXFSZ", Name(SIGXFSZ));
        Assert.Null(Name(34));
        Assert.Null(Name(0));
    }

    [Fact]
    public void A_verdict_names_the_signal_that_ended_the_payload()
    {
        var limits = new ResourceLimits();
        var usage = new ResourceUsage();
        Assert.Equal("killed by signal 11 (SIGSEGV)", VerdictRules.Decide(new SandboxExit { Signal = SIGSEGV }, limits, usage, null).Message);
        Assert.Equal("killed by signal 34 (SIGRT34)", VerdictRules.Decide(new SandboxExit { Signal = 34 }, limits, usage, null).Message);
    }
}
