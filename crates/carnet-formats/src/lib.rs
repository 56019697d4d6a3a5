//! Carnet's file formats: writers for CSV (with an Excel-for-France preset), JSON, vCard 3.0
//! and 4.0, and XLSX. They write to any `std::io::Write`, one record at a time, so exports
//! stream in constant memory; iCalendar (`ical`) for activities, both ways. Readers for the files users bring: CSV in any encoding
//! (`table`), XLSX (`xlsx_read`), vCard (`vcard_read`) and Carnet's JSON (`contact_json`).

pub mod activities;
pub mod contact_columns;
pub mod contact_json;
pub mod contacts;
pub mod csv;
pub mod ical;
mod ical_zones;
pub mod json_array;
pub mod table;
pub mod vcard;
pub mod vcard_read;
pub mod xlsx;
pub mod xlsx_read;

use std::fmt;
use std::str::FromStr;

/// An export format, as the API and the CLI name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// RFC 4180: comma, CRLF, UTF-8 without BOM.
    Csv,
    /// What French Excel opens directly: semicolon, CRLF, UTF-8 with BOM.
    ExcelFr,
    /// Carnet's own JSON: an array of records exactly as the API shows them.
    Json,
    Xlsx,
    /// vCard 4.0 (RFC 6350).
    Vcard4,
    /// vCard 3.0 (RFC 2426), for older phones and address books.
    Vcard3,
}

impl Format {
    pub const NAMES: &'static str = "csv, excel-fr, json, xlsx, vcf (vCard 4.0), vcf3 (vCard 3.0)";

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv | Format::ExcelFr => "text/csv; charset=utf-8",
            Format::Json => "application/json",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Vcard4 | Format::Vcard3 => "text/vcard; charset=utf-8",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv | Format::ExcelFr => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
            Format::Vcard4 | Format::Vcard3 => "vcf",
        }
    }
}

/// The name was not one of the formats `expected` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFormat {
    pub name: String,
    pub expected: &'static str,
}

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown format `{}`; expected one of: {}",
            self.name, self.expected
        )
    }
}

impl std::error::Error for UnknownFormat {}

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(Format::Csv),
            "excel-fr" => Ok(Format::ExcelFr),
            "json" => Ok(Format::Json),
            "xlsx" => Ok(Format::Xlsx),
            "vcf" | "vcf4" => Ok(Format::Vcard4),
            "vcf3" => Ok(Format::Vcard3),
            other => Err(UnknownFormat {
                name: other.to_owned(),
                expected: Format::NAMES,
            }),
        }
    }
}
