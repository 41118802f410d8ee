//! Untrusted text (a client's body, a guest's output, Poe's report) made safe for one log
//! line or error body: cut to a byte budget and with every control character escaped, so it
//! can neither flood the log nor forge a line of its own (`\n`, or `\r`, which a terminal
//! renders as a return to the line's start).

/// What a cut text ends with.
const CUT_MARK: char = '…';

/// `text` as one line of at most `max_bytes` bytes (plus the cut mark): control characters
/// (and Unicode's line and paragraph separators) become escapes (`\n`, `\r`, `\t`,
/// `\u{1b}`), and a text that does not fit is cut at a character and marked `…`.
pub fn escape_line(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes) + CUT_MARK.len_utf8());
    let mut escaped = String::new();
    for c in text.chars() {
        escaped.clear();
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                escaped.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => escaped.push(c),
        }
        if out.len() + escaped.len() > max_bytes {
            out.push(CUT_MARK);
            break;
        }
        out.push_str(&escaped);
    }
    out
}

/// [`escape_line`] for bytes that may not be UTF-8 (invalid sequences become `�`).
pub fn escape_bytes(bytes: &[u8], max_bytes: usize) -> String {
    // Decoding more than the budget could expand to is wasted work on a huge input.
    let head = &bytes[..bytes.len().min(max_bytes.saturating_add(4))];
    let mut line = escape_line(&String::from_utf8_lossy(head), max_bytes);
    if head.len() < bytes.len() && !line.ends_with(CUT_MARK) {
        line.push(CUT_MARK);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_so_no_line_can_be_forged() {
        let forged =
            "x\rFORGED  INFO poe_host::bots::reload: removed bot=echo\nnext\t\u{1b}[2J\u{7f}\u{2028}";
        assert_eq!(
            escape_line(forged, 1000),
            "x\\rFORGED  INFO poe_host::bots::reload: removed bot=echo\\nnext\\t\\u{1b}[2J\\u{7f}\\u{2028}"
        );
    }

    #[test]
    fn long_text_is_cut_at_a_character_and_marked() {
        assert_eq!(escape_line("abcdef", 4), "abcd…");
        assert_eq!(escape_line("aéé", 4), "aé…", "never between the bytes of a character");
        assert_eq!(escape_line("ab\ncd", 3), "ab…", "an escape is not split either");
        assert_eq!(escape_line("abcd", 4), "abcd", "a text that fits is not marked");
    }

    #[test]
    fn bytes_are_decoded_lossily_and_only_their_head_is_read() {
        assert_eq!(escape_bytes(b"ok\xff\n", 100), "ok\u{fffd}\\n");
        let huge = vec![b'a'; 1 << 20];
        assert_eq!(escape_bytes(&huge, 8), "aaaaaaaa…");
    }
}
