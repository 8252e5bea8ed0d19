//! Decoding text that arrives in pieces: a character split between two
//! pieces is carried to the next one instead of becoming U+FFFD.

/// The undecoded tail of the previous piece.
#[derive(Debug, Default)]
pub struct Utf8Pieces {
    carry: Vec<u8>,
}

impl Utf8Pieces {
    /// Decode `piece` after what was carried; an incomplete character at its
    /// end waits for the next piece unless `last`. Only truly invalid bytes
    /// become U+FFFD.
    pub fn decode(&mut self, piece: &[u8], last: bool) -> String {
        self.carry.extend_from_slice(piece);
        let keep = if last {
            0
        } else {
            incomplete_tail(&self.carry)
        };
        let complete = self.carry.len() - keep;
        let text = String::from_utf8_lossy(&self.carry[..complete]).into_owned();
        self.carry.drain(..complete);
        text
    }
}

/// How many bytes at the end of `bytes` start a character that is not complete yet.
fn incomplete_tail(bytes: &[u8]) -> usize {
    match std::str::from_utf8(bytes) {
        Ok(_) => 0,
        // `error_len() == None`: the input ended in the middle of a character.
        Err(err) if err.error_len().is_none() => bytes.len() - err.valid_up_to(),
        Err(err) => {
            // An invalid sequence earlier; look again after it.
            let after = err.valid_up_to() + err.error_len().unwrap_or(1);
            incomplete_tail(&bytes[after..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_between_pieces_survive() {
        let text = "✓".repeat(10_000);
        let bytes = text.as_bytes();
        let mut decoder = Utf8Pieces::default();
        let mut out = String::new();
        let pieces: Vec<&[u8]> = bytes.chunks(8192).collect();
        for (i, piece) in pieces.iter().enumerate() {
            out.push_str(&decoder.decode(piece, i + 1 == pieces.len()));
        }
        assert_eq!(out, text);
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut decoder = Utf8Pieces::default();
        assert_eq!(decoder.decode(b"a\xffb\xe2\x9c", false), "a\u{fffd}b");
        assert_eq!(decoder.decode(b"\x93", true), "✓");
        assert_eq!(decoder.decode(b"\xe2", true), "\u{fffd}");
    }
}
