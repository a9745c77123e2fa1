//! Quote and signature separation for display.

use serde::{Deserialize, Serialize};

/// A reply body in three parts. Together they are the body (modulo surrounding blank lines);
/// the caller keeps the full body and uses these for display only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplyParts {
    /// What the sender wrote this time.
    pub new_text: String,
    /// The quoted history, from its attribution line ("On … wrote:") or separator on.
    pub quoted: Option<String>,
    /// The sender's signature ("-- " block, "Sent from my iPhone").
    pub signature: Option<String>,
}

/// Words that end an attribution line ("… wrote:"), in the languages we see most.
const WROTE: &[&str] = &[
    "wrote",      // en
    "writes",     // en
    "schrieb",    // de
    "a écrit",    // fr
    "escribió",   // es
    "escreveu",   // pt
    "schreef",    // nl
    "ha scritto", // it
    "skrev",      // sv, da, nb
    "napisał",    // pl
    "kirjoitti",  // fi
    "napsal",     // cs
    "написал",    // ru
    "yazdı",      // tr
];

/// Words an attribution line starts with ("On …", "Am …", "Le …").
const ON: &[&str] = &[
    "on", "am", "le", "el", "em", "op", "il", "den", "dnia", "w", "в",
];

/// Outlook's "-----Original Message-----" in several languages (lower case, dashes trimmed).
const ORIGINAL_MESSAGE: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "mensagem original",
    "oorspronkelijk bericht",
    "messaggio originale",
    "originalmeddelande",
    "oprindelig meddelelse",
];

/// Labels of Outlook's quoted header block.
const FROM_LABELS: &[&str] = &["from", "von", "de", "van", "da", "från", "fra", "od", "от"];
const SENT_LABELS: &[&str] = &[
    "sent",
    "date",
    "gesendet",
    "datum",
    "envoyé",
    "date d'envoi",
    "enviado",
    "enviada",
    "fecha",
    "data",
    "verzonden",
    "inviato",
    "skickat",
    "sendt",
    "wysłano",
    "отправлено",
];
const TO_SUBJECT_LABELS: &[&str] = &[
    "to",
    "subject",
    "an",
    "betreff",
    "à",
    "objet",
    "para",
    "asunto",
    "assunto",
    "aan",
    "onderwerp",
    "a",
    "oggetto",
    "till",
    "ämne",
    "til",
    "emne",
    "do",
    "temat",
    "cc",
];

/// Mobile and webmail signatures that stand alone on the last line.
const DEVICE_SIGNATURES: &[&str] = &[
    "sent from my ",
    "sent from mail for windows",
    "sent from outlook",
    "sent from yahoo mail",
    "sent from proton mail",
    "sent with proton mail",
    "sent via ",
    "get outlook for ",
    "von meinem ",
    "gesendet von ",
    "envoyé de mon ",
    "envoyé depuis ",
    "enviado desde mi ",
    "enviado do meu ",
    "enviado de meu ",
    "verzonden vanaf mijn ",
    "inviato da ",
    "skickat från ",
];

/// Splits a plain-text reply into what is new, the quoted history and the signature.
///
/// Knows Gmail ("On … wrote:", in en, de, fr, es, pt, nl, it, sv and more, also wrapped over
/// up to three lines), Apple Mail ("On …, at …, … wrote:"), Outlook ("-----Original
/// Message-----", a `From:`/`Sent:` header block, optionally after a line of underscores),
/// `>`-quoted blocks at the end, and signatures after `-- ` or a lone "Sent from my iPhone".
/// A reply written below the quote (bottom-posting) is found too. When nothing would be left
/// as new text, the whole text is.
pub fn split_reply(text: &str) -> ReplyParts {
    let text = crate::text::normalize_newlines(text);
    let lines: Vec<&str> = text.split('\n').collect();

    let (head, quoted) = match quote_start(&lines) {
        Some(start) => (&lines[..start], Some(&lines[start..])),
        None => (&lines[..], None),
    };
    let (body, signature) = split_signature(head);
    let new_text = join_trimmed(body);

    if new_text.is_empty() {
        if let Some(parts) = bottom_posted(&lines) {
            return parts;
        }
        // Nothing of our own: show everything rather than nothing.
        return ReplyParts {
            new_text: join_trimmed(&lines),
            quoted: None,
            signature: None,
        };
    }
    ReplyParts {
        new_text,
        quoted: quoted.map(join_trimmed).filter(|q| !q.is_empty()),
        signature: signature.map(join_trimmed).filter(|s| !s.is_empty()),
    }
}

/// A reply under a quote: "On … wrote:", `>` lines, then the new text (and a signature).
fn bottom_posted(lines: &[&str]) -> Option<ReplyParts> {
    let (start, kind) = find_quote(lines)?;
    if kind == QuoteKind::Separator {
        return None;
    }
    let mut end = start;
    if kind == QuoteKind::Attribution {
        // The attribution itself: up to three lines, the last ending with ':'.
        while end < lines.len() && end < start + 3 && !lines[end].trim().is_empty() {
            let line = lines[end];
            end += 1;
            if line.trim_end().ends_with(':') {
                break;
            }
        }
    }
    while end < lines.len() && (is_quoted(lines[end]) || lines[end].trim().is_empty()) {
        end += 1;
    }
    let rest = &lines[end..];
    let (body, signature) = split_signature(rest);
    // Anything quoted further down belongs to the history too.
    let (body_only, trailing_quote) = match quote_start(body) {
        Some(s) => (&body[..s], Some(&body[s..])),
        None => (body, None),
    };
    let new_text = join_trimmed(body_only);
    if new_text.is_empty() {
        return None;
    }
    let mut quoted = join_trimmed(&lines[start..end]);
    if let Some(t) = trailing_quote {
        quoted.push_str("\n\n");
        quoted.push_str(&join_trimmed(t));
    }
    Some(ReplyParts {
        new_text,
        quoted: Some(quoted),
        signature: signature.map(join_trimmed).filter(|s| !s.is_empty()),
    })
}

fn join_trimmed(lines: &[&str]) -> String {
    let joined = lines
        .iter()
        .map(|l| l.trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    joined.trim_matches('\n').to_owned()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// How the quoted history announces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteKind {
    /// "On … wrote:" (possibly wrapped), or a "…:" line right above `>` lines.
    Attribution,
    /// Outlook's separator or header block: everything after it is history.
    Separator,
    /// `>` lines with no attribution.
    Quote,
}

/// The index of the first line of the quoted history, if any.
fn quote_start(lines: &[&str]) -> Option<usize> {
    find_quote(lines).map(|(start, _)| start)
}

fn find_quote(lines: &[&str]) -> Option<(usize, QuoteKind)> {
    // `quote_to_end[i]`: from line i on, every line is quoted or blank, up to a signature that
    // a bottom-posting client put under the quote. Computed once, so the scan stays linear.
    let (body, _) = split_signature(lines);
    let mut quote_to_end = vec![false; body.len() + 1];
    if let Some(last) = quote_to_end.last_mut() {
        *last = true;
    }
    for i in (0..body.len()).rev() {
        quote_to_end[i] = quote_to_end[i + 1] && (body[i].trim().is_empty() || is_quoted(body[i]));
    }
    for i in 0..lines.len() {
        if let Some(start) = attribution_at(lines, i) {
            return Some((start, QuoteKind::Attribution));
        }
        if is_original_message(lines[i]) || is_outlook_header_block(lines, i) {
            return Some((
                underscore_line_before(lines, i).unwrap_or(i),
                QuoteKind::Separator,
            ));
        }
        if is_quoted(lines[i]) && quote_to_end.get(i).copied().unwrap_or(false) {
            // An unrecognised "… :" line right above the quote is its attribution.
            let above = lines[..i]
                .iter()
                .rposition(|l| !l.trim().is_empty())
                .filter(|&j| {
                    let l = lines[j].trim();
                    l.ends_with(':') && l.chars().count() <= 200
                });
            return Some(match above {
                Some(j) => (j, QuoteKind::Attribution),
                None => (i, QuoteKind::Quote),
            });
        }
    }
    None
}

/// An attribution starting at line `i`, wrapped over up to three lines.
fn attribution_at(lines: &[&str], i: usize) -> Option<usize> {
    let first = lines[i].trim();
    if first.is_empty() || is_quoted(first) {
        return None;
    }
    let mut joined = String::new();
    for line in lines.iter().skip(i).take(3) {
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
        if is_attribution(&joined) {
            return Some(i);
        }
        if line.ends_with(':') {
            break;
        }
    }
    None
}

fn is_attribution(line: &str) -> bool {
    let line = line.trim().trim_matches('*').trim();
    if !line.ends_with(':') || line.chars().count() > 300 {
        return false;
    }
    let lower = line.to_lowercase();
    let has_wrote = WROTE.iter().any(|w| {
        lower.match_indices(w).any(|(at, _)| {
            // A whole word: not inside another word.
            let before = lower[..at].chars().next_back();
            let after = lower[at + w.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    });
    if !has_wrote {
        return false;
    }
    let first_word = lower
        .split(|c: char| c.is_whitespace() || c == ',')
        .next()
        .unwrap_or_default();
    let dated = line.chars().any(|c| c.is_ascii_digit()) || line.contains('@');
    dated && (ON.contains(&first_word) || line.contains('@') || line.contains('<'))
}

fn is_original_message(line: &str) -> bool {
    let t = line.trim();
    if !(t.starts_with("---") && t.ends_with("---")) {
        return false;
    }
    let inner = t.trim_matches('-').trim().to_lowercase();
    ORIGINAL_MESSAGE.contains(&inner.as_str())
}

/// `label: value` with an optional `*bold*` label (Outlook's text from HTML).
fn label_of(line: &str) -> Option<String> {
    let t = line.trim().trim_start_matches('*');
    let (label, _) = t.split_once(':')?;
    let label = label.trim().trim_end_matches('*').trim();
    if label.is_empty() || label.chars().count() > 20 {
        return None;
    }
    Some(label.to_lowercase())
}

/// Outlook's quoted headers: `From:` then, within five lines, `Sent:`/`Date:` and
/// `To:`/`Subject:`.
fn is_outlook_header_block(lines: &[&str], i: usize) -> bool {
    if !label_of(lines[i]).is_some_and(|l| FROM_LABELS.contains(&l.as_str())) {
        return false;
    }
    let next: Vec<String> = lines
        .iter()
        .skip(i + 1)
        .take(5)
        .filter_map(|l| label_of(l))
        .collect();
    next.iter().any(|l| SENT_LABELS.contains(&l.as_str()))
        && next.iter().any(|l| TO_SUBJECT_LABELS.contains(&l.as_str()))
}

/// Outlook puts a line of underscores (or dashes) above its header block.
fn underscore_line_before(lines: &[&str], i: usize) -> Option<usize> {
    let j = lines[..i].iter().rposition(|l| !l.trim().is_empty())?;
    let l = lines[j].trim();
    (l.len() >= 10 && (l.chars().all(|c| c == '_') || l.chars().all(|c| c == '-'))).then_some(j)
}

/// Splits off a signature: the last `-- ` line (or a bare `--`) with at most 20 lines after
/// it, or a lone device signature at the end.
fn split_signature<'a, 'b>(lines: &'b [&'a str]) -> (&'b [&'a str], Option<&'b [&'a str]>) {
    let last_content = lines.iter().rposition(|l| !l.trim().is_empty());
    let Some(last_content) = last_content else {
        return (lines, None);
    };
    for (i, line) in lines.iter().enumerate().rev() {
        let exact = *line == "-- ";
        let bare = line.trim_end() == "--";
        if exact || (bare && last_content - i <= 20) {
            return (&lines[..i], Some(&lines[i..]));
        }
    }
    let last = lines[last_content].trim().to_lowercase();
    if DEVICE_SIGNATURES.iter().any(|s| last.starts_with(s)) && last.chars().count() <= 80 {
        return (&lines[..last_content], Some(&lines[last_content..]));
    }
    (lines, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> (String, Option<String>, Option<String>) {
        let p = split_reply(text);
        (p.new_text, p.quoted, p.signature)
    }

    #[test]
    fn gmail_english() {
        let (new, quoted, sig) = split(
            "Thanks, that worked!\n\nOn Mon, Jan 1, 2024 at 10:00 AM Support <support@example.com> wrote:\n> Please try again.\n",
        );
        assert_eq!(new, "Thanks, that worked!");
        assert_eq!(
            quoted.as_deref(),
            Some("On Mon, Jan 1, 2024 at 10:00 AM Support <support@example.com> wrote:\n> Please try again.")
        );
        assert_eq!(sig, None);
    }

    #[test]
    fn gmail_attribution_wrapped_over_two_lines() {
        let (new, quoted, _) = split(
            "Yes.\n\nOn Mon, Jan 1, 2024 at 10:00 AM Example Support Team <\nsupport@example.com> wrote:\n\n> Old\n",
        );
        assert_eq!(new, "Yes.");
        assert!(quoted.is_some_and(|q| q.starts_with("On Mon")));
    }

    #[test]
    fn other_languages() {
        for attribution in [
            "Am 01.02.2024 um 10:00 schrieb Max Mustermann <max@example.de>:",
            "Max Mustermann <max@example.de> schrieb am Do., 1. Feb. 2024, 10:00:",
            "Le jeu. 1 févr. 2024 à 10:00, Jean Dupont <jean@example.fr> a écrit :",
            "El jue, 1 feb 2024 a las 10:00, Juan <juan@example.es> escribió:",
            "Em qui., 1 de fev. de 2024 às 10:00, João <joao@example.com.br> escreveu:",
            "Op do 1 feb. 2024 om 10:00 schreef Jan <jan@example.nl>:",
            "Il giorno gio 1 feb 2024 alle ore 10:00 Marco <marco@example.it> ha scritto:",
            "On 1 Feb 2024, at 10:00, Ana Lima <ana@example.com> wrote:",
        ] {
            let text = format!("New text.\n\n{attribution}\n\n> old\n");
            let (new, quoted, _) = split(&text);
            assert_eq!(new, "New text.", "{attribution}");
            assert!(
                quoted
                    .as_deref()
                    .is_some_and(|q| q.starts_with(attribution)),
                "{attribution}"
            );
        }
    }

    #[test]
    fn prose_with_wrote_is_not_an_attribution() {
        let text = "I wrote to you yesterday about this:\nthe app still crashes.";
        assert_eq!(split(text), (text.to_owned(), None, None));
    }

    #[test]
    fn outlook_original_message_and_header_block() {
        let (new, quoted, _) = split(
            "See attached.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: Ana\nSubject: Hi\n\nOld",
        );
        assert_eq!(new, "See attached.");
        assert!(quoted.is_some_and(|q| q.starts_with("-----Original Message-----")));

        let (new, quoted, _) = split(
            "Done.\n\n________________________________\nFrom: Support <support@example.com>\nSent: Monday, January 1, 2024 10:00\nTo: Ana <ana@example.com>\nSubject: RE: Hi\n\nOld",
        );
        assert_eq!(new, "Done.");
        assert!(quoted.is_some_and(|q| q.starts_with("_____")));

        let (new, quoted, _) = split(
            "Erledigt.\n\nVon: Support <support@example.com>\nGesendet: Montag, 1. Januar 2024 10:00\nAn: Max\nBetreff: AW: Hallo\n\nAlt",
        );
        assert_eq!(new, "Erledigt.");
        assert!(quoted.is_some_and(|q| q.starts_with("Von:")));
    }

    #[test]
    fn a_from_line_alone_is_content() {
        let text = "From: my manager\nWe need this fixed.";
        assert_eq!(split(text).0, text);
    }

    #[test]
    fn quoted_block_at_the_end() {
        let (new, quoted, _) = split("Sure.\n\n> Can you?\n> Please.\n");
        assert_eq!(new, "Sure.");
        assert_eq!(quoted.as_deref(), Some("> Can you?\n> Please."));
    }

    #[test]
    fn interleaved_answers_stay_new() {
        let text = "> Question one?\nAnswer one.\n> Question two?\nAnswer two.";
        assert_eq!(split(text).0, text);
    }

    #[test]
    fn signatures() {
        let (new, _, sig) = split("Hello\n\n-- \nAna Lima\nACME");
        assert_eq!(new, "Hello");
        assert_eq!(sig.as_deref(), Some("--\nAna Lima\nACME"));

        let (new, _, sig) = split("Ok thanks\n\nSent from my iPhone");
        assert_eq!(new, "Ok thanks");
        assert_eq!(sig.as_deref(), Some("Sent from my iPhone"));

        let (new, quoted, sig) = split(
            "Ok\n\nVon meinem iPhone gesendet\n\n> Am 01.02.2024 um 10:00 schrieb Support <s@example.com>:\n> old",
        );
        assert_eq!(new, "Ok");
        assert!(quoted.is_some());
        assert_eq!(sig.as_deref(), Some("Von meinem iPhone gesendet"));
    }

    #[test]
    fn bottom_posting() {
        let (new, quoted, sig) = split(
            "On Mon, Jan 1, 2024 at 10:00 AM Support <support@example.com> wrote:\n> Try again?\n\nIt works now.\n-- \nAna",
        );
        assert_eq!(new, "It works now.");
        assert!(quoted.is_some_and(|q| q.ends_with("> Try again?")));
        assert_eq!(sig.as_deref(), Some("--\nAna"));
    }

    #[test]
    fn nothing_new_keeps_everything() {
        let text = "-----Original Message-----\nFrom: a\nSent: b\nTo: c\n\nForwarded body";
        let parts = split_reply(text);
        assert_eq!(parts.new_text, text);
        assert_eq!(parts.quoted, None);
    }

    #[test]
    fn empty_input() {
        assert_eq!(split_reply(""), ReplyParts::default());
        assert_eq!(split_reply("\n\n"), ReplyParts::default());
    }
}
