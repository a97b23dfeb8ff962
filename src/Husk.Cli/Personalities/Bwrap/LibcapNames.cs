namespace Husk.Cli.Personalities.Bwrap;

/// <summary>Capability names (<see cref="Husk.Policy.CapabilityNames"/>) as libcap's cap_from_name reads them: "cap_kill" in any case, or a number below 64.</summary>
internal static class LibcapNames
{
    /// <summary>
    /// A number is read with strtoul (base prefixes allowed, trailing text ignored); a name is the
    /// longest run of letters and underscores, matched without regard to case.
    /// </summary>
    public static bool TryParse(string text, out int cap)
    {
        cap = -1;
        if (text.Length > 0 && char.IsAsciiDigit(text[0]))
        {
            ulong n = CNumbers.StrToUL(text, 0, out _, out bool outOfRange);
            if (outOfRange || n >= 64)
                return false;
            cap = (int)n;
            return true;
        }
        int len = 0;
        while (len < text.Length && (char.IsAsciiLetter(text[len]) || text[len] == '_'))
            len++;
        var word = text.AsSpan(0, len);
        if (!word.StartsWith("cap_", StringComparison.OrdinalIgnoreCase))
            return false;
        return Husk.Policy.CapabilityNames.TryFind(word[4..], out cap);
    }
}
