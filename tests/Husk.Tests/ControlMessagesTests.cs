using System.Runtime.InteropServices;
using static Husk.Interop.Interop;

namespace Husk.Tests;

/// <summary>Control messages of recvmsg, read without magic offsets: the supervisor's channel takes pids and descriptors from them.</summary>
public class ControlMessagesTests
{
    /// <summary>A control message as the kernel lays it out on a 64-bit machine: cmsghdr, data, padding to 8.</summary>
    private static void Put(List<byte> buffer, int level, int type, byte[] data)
    {
        buffer.AddRange(BitConverter.GetBytes((ulong)(16 + data.Length)));
        buffer.AddRange(BitConverter.GetBytes(level));
        buffer.AddRange(BitConverter.GetBytes(type));
        buffer.AddRange(data);
        while (buffer.Count % 8 != 0)
            buffer.Add(0);
    }

    private static List<(int Level, int Type, byte[] Data)> All(ReadOnlySpan<byte> buffer)
    {
        var result = new List<(int, int, byte[])>();
        var messages = new ControlMessages(buffer);
        while (messages.MoveNext(out int level, out int type, out var data))
            result.Add((level, type, data.ToArray()));
        return result;
    }

    [Fact]
    public void Credentials_and_rights_are_read_in_order_past_the_padding()
    {
        var buffer = new List<byte>();
        Put(buffer, SOL_SOCKET, SCM_CREDENTIALS, [.. BitConverter.GetBytes(1234), .. BitConverter.GetBytes(1000u), .. BitConverter.GetBytes(1000u)]);
        Put(buffer, SOL_SOCKET, SCM_RIGHTS, BitConverter.GetBytes(7));
        var all = All(buffer.ToArray());
        Assert.Equal(2, all.Count);
        Assert.Equal((SOL_SOCKET, SCM_CREDENTIALS), (all[0].Level, all[0].Type));
        Assert.Equal(1234, MemoryMarshal.Read<UCred>(all[0].Data).Pid);
        Assert.Equal((SOL_SOCKET, SCM_RIGHTS), (all[1].Level, all[1].Type));
        Assert.Equal(7, BitConverter.ToInt32(all[1].Data));
    }

    [Fact]
    public void A_message_cut_short_ends_the_walk()
    {
        var buffer = new List<byte>();
        Put(buffer, SOL_SOCKET, SCM_RIGHTS, BitConverter.GetBytes(7));
        Put(buffer, SOL_SOCKET, SCM_RIGHTS, BitConverter.GetBytes(8));
        var cut = buffer.ToArray()[..^8]; // the second message's data is missing
        Assert.Equal([7], All(cut).Select(m => BitConverter.ToInt32(m.Data)));
        Assert.Empty(All([]));
        Assert.Empty(All(new byte[8])); // shorter than a header
    }

    [Fact]
    public unsafe void The_kernel_stamps_the_senders_pid_on_the_channel()
    {
        var (parent, child) = ChannelPair();
        using (parent)
        using (child)
        {
            byte b = 1;
            Assert.Equal(1, Send(child.Fd, &b, 1, MSG_NOSIGNAL));
            Span<byte> data = stackalloc byte[16];
            Span<byte> control = stackalloc byte[128];
            Assert.Equal(1, ReceiveMessage(parent.Fd, data, control, MSG_CMSG_CLOEXEC, out int controlLength));
            var all = All(control[..controlLength]);
            var credentials = Assert.Single(all, m => m.Level == SOL_SOCKET && m.Type == SCM_CREDENTIALS);
            Assert.Equal(Environment.ProcessId, MemoryMarshal.Read<UCred>(credentials.Data).Pid);
        }
    }
}
