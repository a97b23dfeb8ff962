namespace Husk.Cli.Personalities;

/// <summary>The mkosi-sandbox personality: mkosi's sandbox.py on the Husk engine.</summary>
internal static class MkosiSandbox
{
    public static int Run(string argv0, string[] args)
    {
        Console.Error.WriteLine("mkosi-sandbox: this personality is not implemented yet");
        return 1;
    }
}
