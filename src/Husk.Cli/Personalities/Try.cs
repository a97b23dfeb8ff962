namespace Husk.Cli.Personalities;

/// <summary>The try personality (the layered-filesystem issue builds it).</summary>
internal static class Try
{
    public static int Run(string argv0, string[] args)
    {
        Console.Error.WriteLine("try: not yet supported by this build of husk (it comes with the layered filesystem)");
        return 1;
    }
}
