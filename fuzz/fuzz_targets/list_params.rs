//! Any query string for a list (limit, cursor, sort, q, filters): a clear error or valid
//! parameters, never a panic.
#![no_main]

use carnet_service::contacts::ListParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        return;
    };
    let _ = ListParams::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    // A cursor on its own, the way clients echo it back.
    let _ = ListParams::parse([("cursor", query)]);
});
