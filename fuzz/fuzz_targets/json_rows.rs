//! Any bytes as an uploaded JSON export: refused up front, or read item by item with every
//! broken item reported at its position, without a panic; positions only go up.
#![no_main]

use carnet_formats::contact_json::stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(rows) = stream(data) else {
        return;
    };
    let mut last = 0;
    for row in rows {
        let n = match row {
            Ok((n, body, _)) => {
                assert!(body.is_object());
                n
            }
            Err((n, message)) => {
                assert!(!message.is_empty());
                n
            }
        };
        assert!(n >= last && n >= 1, "positions go up: {n} after {last}");
        last = n;
    }
});
