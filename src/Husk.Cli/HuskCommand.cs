namespace Husk.Cli;

/// <summary>The native CLI (placeholder until the command tree lands).</summary>
internal static class HuskCommand
{
    public static int Run(string[] args)
    {
        Console.Error.WriteLine("husk: not implemented yet");
        return 2;
    }
}
