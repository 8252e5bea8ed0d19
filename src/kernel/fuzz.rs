//! Property tests of what a client can send: random code and cursor
//! positions through the cursor arithmetic and `is_complete`, random frames
//! through the wire parser. Zero panics is the pass mark.

use bytes::Bytes;
use proptest::prelude::*;

use super::cells::rust::is_complete;
use super::protocol::text::{byte_offset, char_offset, line_at};
use super::wire::{self, DELIMITER, Signer};

fn frame() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from),
        Just(Bytes::from_static(DELIMITER)),
        Just(Bytes::from_static(b"{}")),
        Just(Bytes::from_static(
            b"{\"msg_type\":\"execute_request\",\"msg_id\":\"x\"}"
        )),
        "\\PC{0,24}".prop_map(Bytes::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn cursor_arithmetic_and_is_complete_never_panic(code in "\\PC{0,80}", chars in 0usize..120) {
        let byte = byte_offset(&code, chars);
        prop_assert!(code.is_char_boundary(byte));
        prop_assert!(char_offset(&code, byte) <= code.chars().count());
        let (start, line) = line_at(&code, byte);
        prop_assert!(start + line.len() <= code.len());
        let _ = is_complete::cell(&code);
    }

    #[test]
    fn random_frames_never_panic_the_parser(frames in prop::collection::vec(frame(), 0..10)) {
        for key in ["", "secret"] {
            let signer = Signer::new(key, "hmac-sha256").expect("a valid scheme");
            let _ = wire::decode(frames.clone(), &signer);
        }
    }
}
