//! Any bytes as an uploaded vCard file (folding, quoted-printable, charsets, escapes): every
//! card is read or reported with its line, without a panic, and read cards map to contact JSON.
#![no_main]

use carnet_formats::vcard_read::read_cards;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| *b == b'\n').count() as u64;
    for card in read_cards(data) {
        match card {
            Ok((line, body, _)) => {
                assert!(line >= 1 && line <= lines, "the card's line is in the file");
                let _ = carnet_core::ContactInput::check_members(&body);
            }
            Err((line, message)) => {
                assert!(line >= 1 && line <= lines, "the error's line is in the file");
                assert!(!message.is_empty());
            }
        }
    }
});
