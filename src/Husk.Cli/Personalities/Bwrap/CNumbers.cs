namespace Husk.Cli.Personalities.Bwrap;

/// <summary>
/// C's strtol family, to the letter: bubblewrap validates numbers with them, so leading blanks,
/// a sign, base prefixes and overflow clamping are accepted or refused exactly as it does.
/// </summary>
internal static class CNumbers
{
    /// <summary>strtol: the value (clamped on overflow) and the index where parsing stopped.</summary>
    public static long StrToL(string s, int numberBase, out int end)
    {
        bool negative = Scan(s, numberBase, out ulong magnitude, out end, out bool overflow);
        if (negative)
            return overflow || magnitude > 1UL << 63 ? long.MinValue : unchecked(-(long)magnitude);
        return overflow || magnitude > long.MaxValue ? long.MaxValue : (long)magnitude;
    }

    /// <summary>strtoul (and strtoull, the same on 64-bit): a minus sign negates modulo 2^64.</summary>
    public static ulong StrToUL(string s, int numberBase, out int end, out bool outOfRange)
    {
        bool negative = Scan(s, numberBase, out ulong magnitude, out end, out outOfRange);
        if (outOfRange)
            return ulong.MaxValue;
        return negative ? unchecked(0UL - magnitude) : magnitude;
    }

    /// <summary>A C int from strtol's long, as an assignment in C truncates it.</summary>
    public static int StrToInt(string s, out int end) => unchecked((int)StrToL(s, 10, out end));

    private static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\v' or '\f' or '\r';

    private static int Digit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'z' => c - 'a' + 10,
        >= 'A' and <= 'Z' => c - 'A' + 10,
        _ => 99,
    };

    private static bool Scan(string s, int numberBase, out ulong magnitude, out int end, out bool overflow)
    {
        magnitude = 0;
        overflow = false;
        end = 0;
        int i = 0;
        while (i < s.Length && IsSpace(s[i]))
            i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            negative = s[i] == '-';
            i++;
        }
        bool hexPrefix = i + 2 < s.Length && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X') && Digit(s[i + 2]) < 16;
        if (numberBase == 0)
            numberBase = hexPrefix ? 16 : i < s.Length && s[i] == '0' ? 8 : 10;
        if (numberBase == 16 && hexPrefix)
            i += 2;
        int start = i;
        while (i < s.Length && Digit(s[i]) < numberBase)
        {
            ulong next = magnitude * (ulong)numberBase + (ulong)Digit(s[i]);
            if (!overflow && (magnitude > (ulong.MaxValue - (ulong)Digit(s[i])) / (ulong)numberBase))
                overflow = true;
            magnitude = next;
            i++;
        }
        if (i == start)
        {
            // No digits: nothing is consumed, not even the blanks or the sign.
            magnitude = 0;
            overflow = false;
            end = 0;
            return false;
        }
        end = i;
        return negative;
    }
}
