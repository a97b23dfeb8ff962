using Husk.Cli.Run;

namespace Husk.Cli.Profiles;

/// <summary><c>husk profile list</c> and <c>husk profile show NAME</c>.</summary>
internal static class ProfileCommand
{
    public static int List()
    {
        var profiles = ProfileLoader.List();
        int width = profiles.Max(p => p.Name.Length) + 2;
        foreach (var (name, description, source) in profiles)
            Console.Out.WriteLine($"{name.PadRight(width)}{description}{(source == "built-in" ? "" : $" ({source})")}");
        return 0;
    }

    public static int Show(string nameOrPath)
    {
        try
        {
            var (text, _, _) = ProfileLoader.Find(nameOrPath, Environment.CurrentDirectory);
            // Parse it too, so a broken profile says where it is broken.
            var state = new RunArguments();
            ProfileLoader.Apply(state, nameOrPath);
            Console.Out.Write(text);
            return 0;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }
}
