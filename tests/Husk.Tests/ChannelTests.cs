using System.Runtime.InteropServices;
using Husk.Launch;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>The supervisor's reading of the channel to the child, on a real seqpacket socketpair.</summary>
public class ChannelTests
{
    [Fact]
    public unsafe void A_child_that_exits_with_our_message_unread_still_has_its_last_report_read()
    {
        var (parent, child) = ChannelPair();
        using (parent)
        {
            // The supervisor's go byte, never read: the child failed an op first.
            WriteAll(parent.Fd, [1]);
            var failure = new Report { Kind = 42, Op = 7, Step = 3, Error = (int)Errno.EBUSY, Value = 99 };
            WriteAll(child.Fd, MemoryMarshal.AsBytes(new ReadOnlySpan<Report>(in failure)));
            child.Dispose(); // the child exits with the go byte in its queue: the channel is reset

            var report = Launcher.ReceiveOne(parent.Fd, out _, out _, out _);

            Assert.NotNull(report);
            Assert.Equal((42, 7, 3, (int)Errno.EBUSY, 99L), (report.Value.Kind, report.Value.Op, report.Value.Step, report.Value.Error, report.Value.Value));
            Assert.Null(Launcher.ReceiveOne(parent.Fd, out _, out _, out _)); // then the end of the stream
        }
    }
}
