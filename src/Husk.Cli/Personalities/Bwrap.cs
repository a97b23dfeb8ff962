namespace Husk.Cli.Personalities;

/// <summary>The bwrap personality: a drop-in for bubblewrap 0.11.</summary>
internal static class Bwrap
{
    public static int Run(string argv0, string[] args)
    {
        Console.Error.WriteLine("bwrap: this personality is not implemented yet");
        return 1;
    }
}
