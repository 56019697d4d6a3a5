//! `[target, patch]` documents: merging never panics, applying a patch twice changes nothing
//! more, and a patch's members are checked without panicking.
#![no_main]

use carnet_core::{ContactInput, merge_patch};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(docs)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let [target, patch] = docs.as_slice() else {
        return;
    };
    let mut once = target.clone();
    merge_patch::apply(&mut once, patch);
    let mut twice = once.clone();
    merge_patch::apply(&mut twice, patch);
    assert_eq!(once, twice, "merge patches are idempotent");
    let _ = ContactInput::check_members(patch);
    let _ = ContactInput::from_json(&once);
});
