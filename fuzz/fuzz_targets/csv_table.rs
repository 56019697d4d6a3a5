//! Any bytes as an uploaded CSV file (encoding and delimiter detection included): every row
//! is read or reported, and mapped to contact JSON, without a panic.
#![no_main]

use carnet_formats::contact_columns::{columns_for, row_to_json};
use carnet_formats::table::{TableOptions, TableReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(reader) = TableReader::csv(
        std::io::Cursor::new(data.to_vec()),
        &TableOptions::default(),
    ) else {
        return;
    };
    let columns = columns_for(&reader.headers);
    let mut last_row = 1;
    for row in reader {
        if let Ok((row, cells)) = row {
            assert!(row > last_row, "row numbers increase");
            last_row = row;
            let (body, _) = row_to_json(&columns, &cells);
            let _ = carnet_core::ContactInput::check_members(&body);
        }
    }
});
