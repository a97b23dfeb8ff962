namespace Husk.Cli.Personalities;

/// <summary>The mbox personality (the layered-filesystem issue builds it).</summary>
internal static class Mbox
{
    public static int Run(string argv0, string[] args)
    {
        Console.Error.WriteLine("mbox: not yet supported by this build of husk (it comes with the layered filesystem)");
        return 1;
    }
}
