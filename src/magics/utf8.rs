//! Decoding remote output that arrives in chunks: a character split between
//! two chunks is kept until its end arrives; only bytes that can never be
//! UTF-8 become U+FFFD. (std's `from_utf8` tells an incomplete tail from an
//! invalid sequence through `Utf8Error::error_len`.)

/// A UTF-8 decoder that carries an incomplete character to the next chunk.
#[derive(Default)]
pub struct Utf8Stream {
    tail: Vec<u8>,
}

impl Utf8Stream {
    /// Decode `chunk`, after what was held back from the previous one.
    pub fn decode(&mut self, chunk: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.tail);
        bytes.extend_from_slice(chunk);
        let mut text = String::with_capacity(bytes.len());
        let mut rest = bytes.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    break;
                }
                Err(err) => {
                    let (valid, after) = rest.split_at(err.valid_up_to());
                    // Checked valid by from_utf8 just above.
                    text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match err.error_len() {
                        Some(len) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[len..];
                        }
                        None => {
                            self.tail = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        text
    }

    /// The end of the stream: a character still incomplete is invalid.
    pub fn finish(&mut self) -> String {
        if self.tail.is_empty() {
            String::new()
        } else {
            self.tail.clear();
            char::REPLACEMENT_CHARACTER.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_chunks_come_back_whole() {
        let text = "✓".repeat(10_000);
        let mut stream = Utf8Stream::default();
        let mut decoded = String::new();
        for chunk in text.as_bytes().chunks(8192) {
            decoded.push_str(&stream.decode(chunk));
        }
        decoded.push_str(&stream.finish());
        assert_eq!(decoded, text);
    }

    #[test]
    fn only_invalid_bytes_become_replacement_characters() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.decode(b"a\xffb\xe2\x9c"), "a\u{fffd}b");
        assert_eq!(stream.decode(b"\x93c"), "✓c");
        assert_eq!(stream.decode(b"\xe2"), "");
        assert_eq!(stream.finish(), "\u{fffd}");
    }
}
