//! Any bytes as a contact body: never a panic; what is accepted survives a round trip.
#![no_main]

use carnet_core::ContactInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(input) = ContactInput::from_json(&body) {
        let again = ContactInput::from_json(&input.to_json());
        assert_eq!(
            again.as_ref(),
            Ok(&input),
            "accepted input must read back the same"
        );
    }
});
