namespace Husk.Cli.Personalities.Mbox;

/// <summary>An mbox usage error in getopt's words ("invalid option -- 'Z'"): one line on stderr, exit 1.</summary>
internal sealed class MboxUsage(string message) : Exception(message);

/// <summary>
/// mbox's command line, read like its getopt string "+bcdDhqvVxyzistnRm" "e:o:O:S:E:I:C:r:p:":
/// grouped flags, a value in the rest of the word or the next one, options ending at the first
/// word that is not one (or <c>--</c>). The strace options mbox inherited are accepted.
/// One difference: <c>-S</c> is a flag, as mbox's usage on its web site lists it ("enable
/// nested seccomp"), not strace's <c>-S SORT</c> that its getopt string kept: read that way,
/// <c>mbox -S echo hi</c> would run <c>hi</c>.
/// </summary>
internal sealed class MboxArguments
{
    public string? Root;
    public bool NoNetwork;
    public bool FakeRoot;
    public bool Interactive = true;
    public string? Profile;
    public string? ChangeDirectory;
    public bool CountCalls;
    public bool Trace;
    /// <summary>-o FILE: the trace (-d) and the count (-c) go to FILE instead of stderr, as strace's -o.</summary>
    public string? OutputFile;
    public bool Debug;
    public bool Md5;
    public bool Seccomp;
    public bool Test;
    public bool Help;
    public bool Version;
    public readonly List<string> Environment = [];
    public List<string> Command = [];

    private const string Flags = "bcdDhqvVxyzistnRmS";
    private const string WithValue = "eoOEICrp";

    public static MboxArguments Parse(string[] args)
    {
        var a = new MboxArguments();
        if (ShortOptions.Parse(args, Flags, WithValue, a.Apply, () => a.Help || a.Version, problem => new MboxUsage(problem)) is int operands)
            a.Command = [.. args[operands..]];
        return a;
    }

    private void Apply(char opt, string? value)
    {
        switch (opt)
        {
            case 'c': CountCalls = true; break;
            case 'd': Trace = true; break;
            case 'D': Debug = true; break;
            case 'h': Help = true; break;
            case 'V': Version = true; break;
            case 'i': Interactive = false; break;
            case 's': Seccomp = true; break;
            case 't': Test = true; Interactive = false; break;
            case 'n': NoNetwork = true; break;
            case 'R': FakeRoot = true; break;
            case 'm': Md5 = true; break;
            case 'C': ChangeDirectory = value; break;
            case 'r': Root = value; break;
            case 'p': Profile = value; break;
            case 'o': OutputFile = value; break;
            case 'E': Environment.Add(value!); break;
            // S: nested seccomp, which a program here may always install (nothing traces it).
            default: break; // b q v x y z e O I: strace's output options, which change nothing here
        }
    }

    public static string Usage(string name) => $"""
        usage: {name} [-r root] [-s] [PROG]

                -h      : print this help, -V: print the version
                -E var  : put var=val in the environment of the command

                -m      : keep md5 sums of the original files (conflicts are found with them)
                -c      : count time, calls, and errors for each syscall and report summary
                -d      : enable syscall trace to stderr
                -o file : send the trace and the summary to file instead of stderr
                -D      : debug: print the sandbox's filesystem plan
                -p file : load a profile ([fs] hide:, allow:, direct:; [network] kill:, block:, allow:, log:)
                -t      : unit-test mode: check the script's # pre: and # post: conditions
                -n      : no network access
                -i      : no interactive session at the end
                -s      : seccomp instead of ptrace (husk needs neither: accepted)
                -S      : allow nested seccomp (always allowed in husk: accepted)
                -R      : run as root (fakeroot)
                -C path : change directory first
                -r path : sandbox root, made if missing (default: /tmp/sandbox-PID,
                          removed at the end unless changes are kept in it)

        """;
}
