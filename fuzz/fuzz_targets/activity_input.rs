//! Any bytes as an activity body: never a panic; what is accepted survives a round trip, and
//! a merge patch's members are checked on their own.
#![no_main]

use carnet_core::ActivityInput;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let members = ActivityInput::check_members(&body);
    if let Ok(input) = ActivityInput::from_json(&body) {
        assert!(members.is_ok(), "a valid body has valid members");
        let again = ActivityInput::from_json(&input.to_json());
        assert_eq!(
            again.as_ref(),
            Ok(&input),
            "accepted input must read back the same"
        );
    }
});
