//! Any bytes as the shared strings and the sheet of an uploaded workbook (split at the first
//! NUL byte): every row is read or the sheet is reported broken, without a panic, and no row
//! is wider than a spreadsheet can be.
#![no_main]

use carnet_formats::xlsx_read::{rows_of_sheet, strings_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (strings_xml, sheet_xml) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let strings = strings_of(strings_xml).unwrap_or_default();
    let rows = rows_of_sheet(sheet_xml, strings, vec![false, true]);
    let mut broken = false;
    for row in rows {
        assert!(!broken, "nothing is read after a broken part");
        match row {
            Ok((_, cells)) => assert!(cells.len() <= 16_384, "at most 16,384 columns"),
            Err(e) => {
                assert!(!e.0.is_empty());
                broken = true;
            }
        }
    }
});
