namespace Husk.Cli.Personalities;

/// <summary>
/// getopt-style short options, as the shell front doors (mbox, try) read them: clustered flags
/// ("-yn"), a value attached or in the next word ("-Lfoo", "-L foo"), "--" or the first operand
/// ending them.
/// </summary>
internal static class ShortOptions
{
    /// <summary>
    /// Applies each option in order; returns where the operands start, or null when
    /// <paramref name="stop"/> said to stop after a flag (--help, --version).
    /// </summary>
    /// <param name="usage">The exception for an unknown option or a missing value, given getopt's words for it ("invalid option -- 'Z'").</param>
    public static int? Parse(string[] args, string flags, string withValue, Action<char, string?> apply, Func<bool> stop, Func<string, Exception> usage)
    {
        int i = 0;
        for (; i < args.Length; i++)
        {
            string word = args[i];
            if (word == "--")
                return i + 1;
            if (word.Length < 2 || word[0] != '-')
                break;
            for (int j = 1; j < word.Length; j++)
            {
                char opt = word[j];
                if (withValue.Contains(opt))
                {
                    string value = j + 1 < word.Length ? word[(j + 1)..] : i + 1 < args.Length ? args[++i] : throw usage($"option requires an argument -- '{opt}'");
                    apply(opt, value);
                    break;
                }
                if (!flags.Contains(opt))
                    throw usage($"invalid option -- '{opt}'");
                apply(opt, null);
                if (stop())
                    return null;
            }
        }
        return i;
    }
}
