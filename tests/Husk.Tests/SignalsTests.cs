using System.Runtime.InteropServices;
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
}
