//! Any query string for a list of contacts or of activities (limit, cursor, sort, q,
//! filters): a clear error or valid parameters, never a panic.
#![no_main]

use carnet_service::activities::ActivityListParams;
use carnet_service::contacts::ListParams;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        return;
    };
    let pairs = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let _ = ListParams::parse(pairs());
    let _ = ActivityListParams::parse(pairs());
    // A cursor on its own, the way clients echo it back.
    let _ = ListParams::parse([("cursor", query)]);
    let _ = ActivityListParams::parse([("cursor", query)]);
});
