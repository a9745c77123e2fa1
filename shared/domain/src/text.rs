//! Text that people see as a name: ticket subjects, display names, file names.
//!
//! Unicode *format* characters (general category Cf) are invisible and some of them change how
//! the text around them is shown: U+202E (right-to-left override) makes `é\u{202E}gpj.exe` appear
//! as `éexe.jpg`, zero-width spaces make two different names look alike. [`strip_format_chars`]
//! removes them where such text enters the help desk (the `parse_*` functions, inbound mail) and
//! where a stored name is served (file names in downloads), so what people see is what is stored.
//!
//! Removed rather than replaced (e.g. by U+FFFD): without the override the real name shows
//! (`égpj.exe`), and a replacement character would only add noise to legitimate names that
//! carry a stray mark. Two joiners are kept where they are part of the writing, because there
//! they are visible in effect and cannot reorder anything:
//! - U+200D ZERO WIDTH JOINER between two emoji (`👩‍💻` is one picture, three without it);
//! - U+200C ZERO WIDTH NON-JOINER and U+200D between two letters of a joining script (Arabic,
//!   Syriac) or an Indic one, where they are part of the spelling (Persian `می‌خواهم`).
//!
//! Everything else goes, tag characters included (a subdivision flag such as England's then shows
//! as a plain black flag: a small loss against invisible text).
//!
//! There is no Unicode property crate in the dependency tree, so Cf is the table below (Unicode
//! 15.1; it changes rarely — new format characters are added once every few versions).

/// Unicode general category Cf (Format), as inclusive ranges, Unicode 15.1.
const FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{0600}', '\u{0605}'),   // Arabic number signs
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark (bidi)
    ('\u{06DD}', '\u{06DD}'),   // Arabic end of ayah
    ('\u{070F}', '\u{070F}'),   // Syriac abbreviation mark
    ('\u{0890}', '\u{0891}'),   // Arabic pound / piastre mark above
    ('\u{08E2}', '\u{08E2}'),   // Arabic disputed end of ayah
    ('\u{180E}', '\u{180E}'),   // Mongolian vowel separator
    ('\u{200B}', '\u{200F}'),   // zero width space, non-joiner, joiner; LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides (LRE RLE PDF LRO RLO)
    ('\u{2060}', '\u{2064}'),   // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'),   // bidi isolates (LRI RLI FSI PDI), deprecated format chars
    ('\u{FEFF}', '\u{FEFF}'),   // zero width no-break space (byte-order mark)
    ('\u{FFF9}', '\u{FFFB}'),   // interlinear annotation
    ('\u{110BD}', '\u{110BD}'), // Kaithi number sign
    ('\u{110CD}', '\u{110CD}'), // Kaithi number sign above
    ('\u{13430}', '\u{1343F}'), // Egyptian hieroglyph format controls
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol beams, ties, slurs, phrases
    ('\u{E0001}', '\u{E0001}'), // language tag
    ('\u{E0020}', '\u{E007F}'), // tag characters
];

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// Whether `c` is a Unicode format character (general category Cf).
pub fn is_format_char(c: char) -> bool {
    FORMAT.iter().any(|&(lo, hi)| lo <= c && c <= hi)
}

/// Emoji, emoji modifiers and the emoji presentation selector: the characters a ZWJ joins in
/// emoji sequences (the pictographic blocks; a superset of Extended_Pictographic is enough, a
/// joiner between two symbols is visible either way).
fn is_emoji_part(c: char) -> bool {
    matches!(c,
        '\u{00A9}' | '\u{00AE}' | '\u{203C}' | '\u{2049}' | '\u{2122}' | '\u{2139}'
        | '\u{2190}'..='\u{21FF}'   // arrows
        | '\u{2300}'..='\u{23FF}'   // miscellaneous technical (⌚ ⏰)
        | '\u{2460}'..='\u{24FF}'   // enclosed alphanumerics (Ⓜ)
        | '\u{25A0}'..='\u{27BF}'   // geometric shapes, symbols, dingbats (❤ ☕ ✈)
        | '\u{2900}'..='\u{297F}'   // supplemental arrows
        | '\u{2B00}'..='\u{2BFF}'   // miscellaneous symbols and arrows (⬛ ⭐)
        | '\u{3030}' | '\u{303D}' | '\u{3297}' | '\u{3299}'
        | '\u{FE0F}'                // emoji presentation selector (❤️‍🔥)
        | '\u{1F000}'..='\u{1FAFF}' // emoji blocks, including skin-tone modifiers
    )
}

/// Letters and signs (an Indic half form joins after a virama) of the scripts whose spelling
/// uses ZWNJ / ZWJ: Arabic, Syriac, Thaana, NKo (joining scripts) and the Indic blocks from
/// Devanagari to Sinhala.
fn is_joining_script_letter(c: char) -> bool {
    !is_format_char(c)
        && matches!(c,
            '\u{0600}'..='\u{07FF}'     // Arabic, Syriac, Arabic supplement, Thaana, NKo
            | '\u{0860}'..='\u{08FF}'   // Syriac supplement, Arabic extended
            | '\u{0900}'..='\u{0DFF}'   // Devanagari … Sinhala
            | '\u{FB50}'..='\u{FDFF}'   // Arabic presentation forms A
            | '\u{FE70}'..='\u{FEFE}'   // Arabic presentation forms B
        )
}

/// `s` without its format characters (see the module documentation for the two joiners kept).
pub fn strip_format_chars(s: &str) -> String {
    if !s.chars().any(is_format_char) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if !is_format_char(c) {
            out.push(c);
            continue;
        }
        let (Some(before), Some(&after)) = (out.chars().next_back(), chars.peek()) else {
            continue;
        };
        let emoji = c == ZWJ && is_emoji_part(before) && is_emoji_part(after);
        let script = (c == ZWJ || c == ZWNJ)
            && is_joining_script_letter(before)
            && is_joining_script_letter(after);
        if emoji || script {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bidi_overrides_and_invisible_characters_go() {
        assert_eq!(strip_format_chars("é\u{202E}gpj.exe"), "égpj.exe");
        assert_eq!(
            strip_format_chars("\u{2067}invoice\u{2069}\u{200B}.pdf\u{FEFF}"),
            "invoice.pdf"
        );
        assert_eq!(strip_format_chars("a\u{200E}b\u{200F}c\u{061C}d"), "abcd");
        assert_eq!(strip_format_chars("pay\u{200C}pal \u{200D}x"), "paypal x");
        assert_eq!(strip_format_chars("soft\u{00AD}hyphen"), "softhyphen");
        assert_eq!(strip_format_chars("tag\u{E0041}\u{E007F}"), "tag");
        // Nothing else changes (and no allocation-visible difference for clean text).
        assert_eq!(
            strip_format_chars("Grüße, 東京 — שלום"),
            "Grüße, 東京 — שלום"
        );
        assert_eq!(strip_format_chars(""), "");
        assert_eq!(strip_format_chars("\u{202E}\u{202C}"), "");
    }

    #[test]
    fn joiners_that_are_part_of_the_writing_stay() {
        // Emoji sequences: person + laptop, family, heart on fire (VS16 before the joiner),
        // a skin tone before the joiner.
        for s in [
            "👩\u{200D}💻 cannot log in",
            "👨\u{200D}👩\u{200D}👧",
            "❤\u{FE0F}\u{200D}🔥",
            "👩🏽\u{200D}💻",
        ] {
            assert_eq!(strip_format_chars(s), s);
        }
        // Persian: "I want" is spelled with a non-joiner.
        assert_eq!(strip_format_chars("می\u{200C}خواهم"), "می\u{200C}خواهم");
        // Hindi with an explicit half form.
        assert_eq!(strip_format_chars("क्\u{200D}ष"), "क्\u{200D}ष");
        // Not between emoji or script letters: removed.
        assert_eq!(strip_format_chars("a\u{200D}💻"), "a💻");
        assert_eq!(strip_format_chars("\u{200D}💻"), "💻");
        assert_eq!(strip_format_chars("💻\u{200D}"), "💻");
        assert_eq!(strip_format_chars("ab\u{200C}cd"), "abcd");
    }

    #[test]
    fn the_table_is_sorted_and_covers_the_bidi_controls() {
        assert!(FORMAT.windows(2).all(|w| w[0].1 < w[1].0));
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            assert!(is_format_char(c), "{c:?}");
        }
        for c in ['a', ' ', '\n', 'é', '\u{FE0F}', '\u{0627}'] {
            assert!(!is_format_char(c), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn no_bidi_control_survives(s in "(.|[\u{202A}-\u{202E}\u{2066}-\u{2069}\u{200B}-\u{200F}\u{061C}])*") {
            let out = strip_format_chars(&s);
            prop_assert!(!out.chars().any(|c| is_format_char(c) && c != ZWJ && c != ZWNJ));
            // Idempotent, and only removes.
            prop_assert_eq!(strip_format_chars(&out), out.clone());
            prop_assert!(out.chars().count() <= s.chars().count());
        }
    }
}
