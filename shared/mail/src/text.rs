//! Small text helpers shared by the modules.

/// A header value for display: control characters (a decoded CR/LF included) become spaces,
/// runs of whitespace become one space, ends trimmed; format characters (bidi overrides,
/// zero-width spaces) are removed (`helpdesk_domain::text`).
pub(crate) fn clean_header_text(s: &str) -> String {
    let s = &helpdesk_domain::text::strip_format_chars(s);
    let mut out = String::with_capacity(s.len());
    for word in s
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// CRLF and lone CR → LF; byte-order marks (iPhone Mail puts one inside quotes) dropped.
pub(crate) fn normalize_newlines(s: &str) -> String {
    if !s.contains(['\r', '\u{feff}']) {
        return s.to_owned();
    }
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\u{feff}', "")
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Hex (either case) → bytes; `None` for an odd length or a non-hex digit.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits = s.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Undoes RFC 3676 `format=flowed`: a line ending in a space continues on the next line of the
/// same quote depth; space-stuffing is removed; `delsp=yes` also drops that trailing space.
pub(crate) fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    // (quote depth, joined content) of the paragraph being built, and whether it continues.
    let mut current: Option<(usize, String)> = None;
    let mut continues = false;
    for line in text.split('\n') {
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let rest = &line[depth..];
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        let is_sig = rest == "-- ";
        let soft = !is_sig && rest.ends_with(' ');
        let content = if soft && delsp {
            &rest[..rest.len() - 1]
        } else {
            rest
        };
        match current.as_mut() {
            Some((d, para)) if continues && *d == depth => para.push_str(content),
            _ => {
                if let Some((d, para)) = current.take() {
                    push_flowed_line(&mut out, d, &para);
                }
                current = Some((depth, content.to_owned()));
            }
        }
        continues = soft;
    }
    if let Some((d, para)) = current {
        push_flowed_line(&mut out, d, &para);
    }
    // Every line was pushed with a trailing '\n'; the input's last line had none.
    out.pop();
    out
}

fn push_flowed_line(out: &mut String, depth: usize, content: &str) {
    if depth > 0 {
        out.push_str(&">".repeat(depth));
        if !content.is_empty() {
            out.push(' ');
        }
    }
    out.push_str(content);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_loses_control_characters() {
        assert_eq!(
            clean_header_text("  Hello\r\n\tworld \u{7} !"),
            "Hello world !"
        );
        assert_eq!(
            clean_header_text("Invoice \u{202E}fdp.exe\u{202C} \u{200B}now"),
            "Invoice fdp.exe now"
        );
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_bytes("héllo", 2), "h");
        assert_eq!(truncate_bytes("héllo", 3), "hé");
        assert_eq!(truncate_bytes("abc", 10), "abc");
    }

    #[test]
    fn flowed_lines_are_joined() {
        let flowed = "This is a long \nparagraph.\n\n> quoted \n> text\n-- \nAna";
        assert_eq!(
            unflow(flowed, false),
            "This is a long paragraph.\n\n> quoted text\n-- \nAna"
        );
        assert_eq!(unflow("a \nb", true), "ab");
        assert_eq!(unflow(" From me", false), "From me");
    }
}
