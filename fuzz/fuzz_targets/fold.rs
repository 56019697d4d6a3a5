//! Search folding: never panics, and folding twice gives what folding once gave.
#![no_main]

use carnet_core::text::{digits, fold};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let once = fold(s);
    assert_eq!(fold(&once), once, "fold is idempotent");
    assert!(digits(s).bytes().all(|b| b.is_ascii_digit()));
});
