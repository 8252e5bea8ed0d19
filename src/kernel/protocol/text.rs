//! Cursor arithmetic: Jupyter counts cursor positions in Unicode code points,
//! Rust strings index bytes.

/// The byte offset of code point `chars` in `text` (clamped to its end).
pub fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(byte, _)| byte)
}

/// The code point offset of byte `byte` in `text`.
pub fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].chars().count()
}

/// The line containing byte `cursor`: its start offset and its text (without newline).
pub fn line_at(text: &str, cursor: usize) -> (usize, &str) {
    let cursor = cursor.min(text.len());
    let start = text[..cursor].rfind('\n').map_or(0, |i| i + 1);
    let end = text[cursor..].find('\n').map_or(text.len(), |i| cursor + i);
    (start, &text[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_through_multibyte_text() {
        let text = "é%crimpl";
        assert_eq!(byte_offset(text, 1), 2);
        assert_eq!(char_offset(text, 2), 1);
        assert_eq!(byte_offset(text, 99), text.len());
    }

    #[test]
    fn line_at_finds_the_cursor_line() {
        let text = "let a = 1;\n%crimpl jo\nmore";
        assert_eq!(line_at(text, 20), (11, "%crimpl jo"));
        assert_eq!(line_at(text, 0), (0, "let a = 1;"));
    }
}
