//! Reading the first (or a chosen) sheet of an XLSX workbook as a table: a header row, then
//! rows of cells as text, one at a time. Shared strings, inline strings, numbers (integers
//! without a trailing `.0`), booleans and dates (cells with a date format become
//! `YYYY-MM-DD`, with the time when it has one) are read; formulas give their cached value.
//!
//! The sheet is decompressed to a temporary file and parsed as a stream, so a million-row
//! sheet does not sit in memory; the shared strings (the distinct texts of the workbook) do.

use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

/// What reading a workbook can fail with; the text says what to do.
#[derive(Debug)]
pub struct XlsxError(pub String);

impl std::fmt::Display for XlsxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for XlsxError {}

fn err(message: impl Into<String>) -> XlsxError {
    XlsxError(message.into())
}

impl From<quick_xml::Error> for XlsxError {
    fn from(e: quick_xml::Error) -> Self {
        err(format!("the workbook's XML is malformed: {e}"))
    }
}

impl From<zip::result::ZipError> for XlsxError {
    fn from(e: zip::result::ZipError) -> Self {
        err(format!("not an XLSX workbook (a zip archive): {e}"))
    }
}

impl From<io::Error> for XlsxError {
    fn from(e: io::Error) -> Self {
        err(format!("cannot read the workbook: {e}"))
    }
}

/// Most cells a row may have (Excel's own limit is 16,384 columns).
const MAX_COLUMNS: usize = 16_384;

/// A sheet being read: its header, then its rows.
pub struct XlsxReader {
    pub headers: Vec<String>,
    /// The sheet's name.
    pub sheet: String,
    /// Every sheet of the workbook, in order.
    pub sheets: Vec<String>,
    rows: SheetRows<BufReader<File>>,
    /// The sheet's XML, deleted when the reader is dropped.
    _temp: TempFile,
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        // Already gone is fine.
        let _ = std::fs::remove_file(&self.0);
    }
}

impl XlsxReader {
    /// Opens `sheet` (by name; the first sheet when `None`) of the workbook at `path`.
    pub fn open(path: &Path, sheet: Option<&str>) -> Result<XlsxReader, XlsxError> {
        let mut archive = zip::ZipArchive::new(File::open(path)?)?;
        let sheets = sheet_paths(&mut archive)?;
        let (name, part) = match sheet {
            None => sheets
                .first()
                .cloned()
                .ok_or_else(|| err("the workbook has no sheet"))?,
            Some(wanted) => sheets
                .iter()
                .find(|(name, _)| name == wanted)
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
                    err(format!(
                        "the workbook has no sheet `{wanted}` (its sheets: {})",
                        names.join(", ")
                    ))
                })?,
        };
        let strings = match archive.by_name("xl/sharedStrings.xml") {
            Ok(file) => shared_strings(BufReader::new(file))?,
            Err(zip::result::ZipError::FileNotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let dates = match archive.by_name("xl/styles.xml") {
            Ok(file) => date_styles(BufReader::new(file))?,
            Err(zip::result::ZipError::FileNotFound) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let temp = TempFile(std::env::temp_dir().join(format!(
            "carnet-xlsx-{}-{}",
            std::process::id(),
            unique()
        )));
        {
            let mut entry = archive
                .by_name(&part)
                .map_err(|_| err(format!("the sheet `{name}` is missing from the workbook")))?;
            let mut out = File::create(&temp.0)?;
            io::copy(&mut entry, &mut out)?;
        }
        let mut rows = SheetRows::new(BufReader::new(File::open(&temp.0)?), strings, dates);
        let headers = match rows.next() {
            Some(Ok((_, cells))) => cells.into_iter().map(|h| h.trim().to_owned()).collect(),
            Some(Err(e)) => return Err(e),
            None => {
                return Err(err(format!(
                    "the sheet `{name}` is empty: a header row is needed"
                )));
            }
        };
        Ok(XlsxReader {
            headers,
            sheet: name,
            sheets: sheets.into_iter().map(|(n, _)| n).collect(),
            rows,
            _temp: temp,
        })
    }
}

impl Iterator for XlsxReader {
    /// The row number as the spreadsheet shows it, and its cells (empty ones as `""`).
    type Item = Result<(u64, Vec<String>), XlsxError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rows.next()
    }
}

/// A name no other reader of this process uses at the same time.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The workbook's sheets in order: (name, path of its part in the archive).
fn sheet_paths<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
) -> Result<Vec<(String, String)>, XlsxError> {
    let mut targets = HashMap::new();
    if let Ok(file) = archive.by_name("xl/_rels/workbook.xml.rels") {
        each_element(BufReader::new(file), |name, e| {
            if name == b"Relationship"
                && let (Some(id), Some(target)) = (attr(e, b"Id"), attr(e, b"Target"))
            {
                let path = match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_owned(),
                    None => format!("xl/{target}"),
                };
                targets.insert(id, path);
            }
        })?;
    }
    let mut sheets = Vec::new();
    let file = archive
        .by_name("xl/workbook.xml")
        .map_err(|_| err("not an XLSX workbook: xl/workbook.xml is missing"))?;
    each_element(BufReader::new(file), |name, e| {
        if name == b"sheet"
            && let Some(sheet_name) = attr(e, b"name")
        {
            let part = attr(e, b"r:id")
                .and_then(|id| targets.get(&id).cloned())
                .unwrap_or_else(|| format!("xl/worksheets/sheet{}.xml", sheets.len() + 1));
            sheets.push((sheet_name, part));
        }
    })?;
    Ok(sheets)
}

/// Calls `f` with the local name and the tag of every start or empty element.
fn each_element(
    input: impl BufRead,
    mut f: impl FnMut(&[u8], &BytesStart<'_>),
) -> Result<(), XlsxError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) => f(e.local_name().as_ref(), &e),
            Event::Eof => return Ok(()),
            _ => {}
        }
        buf.clear();
    }
}

/// An attribute's value, unescaped (by its full name, prefix included).
fn attr(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Text, with the character and predefined entity references XML allows.
fn push_text(out: &mut String, event: &Event<'_>) {
    match event {
        Event::Text(t) => {
            if let Ok(text) = t.decode() {
                out.push_str(&text);
            }
        }
        Event::CData(t) => {
            if let Ok(text) = t.decode() {
                out.push_str(&text);
            }
        }
        Event::GeneralRef(r) => {
            if let Ok(Some(c)) = r.resolve_char_ref() {
                out.push(c);
            } else if let Ok(name) = r.decode()
                && let Some(s) = quick_xml::escape::resolve_predefined_entity(&name)
            {
                out.push_str(s);
            }
        }
        _ => {}
    }
}

/// The shared strings: the text of each `<si>` (rich-text runs joined, phonetic hints left out).
fn shared_strings(input: impl BufRead) -> Result<Vec<String>, XlsxError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    let mut strings = Vec::new();
    let mut current = String::new();
    let (mut in_t, mut in_phonetic) = (false, false);
    loop {
        let event = reader.read_event_into(&mut buf)?;
        match &event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"si" => current.clear(),
                b"t" => in_t = true,
                b"rPh" => in_phonetic = true,
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"si" => strings.push(std::mem::take(&mut current)),
                b"t" => in_t = false,
                b"rPh" => in_phonetic = false,
                _ => {}
            },
            Event::Empty(e) if e.local_name().as_ref() == b"si" => strings.push(String::new()),
            Event::Eof => return Ok(strings),
            other if in_t && !in_phonetic => push_text(&mut current, other),
            _ => {}
        }
        buf.clear();
    }
}

/// For each cell style (`s="N"`), whether its number format shows a date.
fn date_styles(input: impl BufRead) -> Result<Vec<bool>, XlsxError> {
    let mut custom_dates = HashMap::new();
    let mut styles = Vec::new();
    let mut in_cell_xfs = false;
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) | Event::Empty(e) => match e.local_name().as_ref() {
                b"numFmt" => {
                    if let (Some(id), Some(code)) = (attr(&e, b"numFmtId"), attr(&e, b"formatCode"))
                    {
                        custom_dates.insert(id, is_date_format(&code));
                    }
                }
                b"cellXfs" => in_cell_xfs = true,
                b"xf" if in_cell_xfs => {
                    let id = attr(&e, b"numFmtId").unwrap_or_default();
                    let builtin = id
                        .parse::<u32>()
                        .is_ok_and(|n| (14..=22).contains(&n) || (45..=47).contains(&n));
                    styles.push(builtin || custom_dates.get(&id).copied().unwrap_or(false));
                }
                _ => {}
            },
            Event::End(e) if e.local_name().as_ref() == b"cellXfs" => in_cell_xfs = false,
            Event::Eof => return Ok(styles),
            _ => {}
        }
        buf.clear();
    }
}

/// Whether a custom number format shows a date: it has day, month or year codes outside
/// quotes and brackets (`[Red]`, `"text"`).
fn is_date_format(code: &str) -> bool {
    let mut quoted = false;
    let mut bracket = false;
    for c in code.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' if !quoted => bracket = true,
            ']' if !quoted => bracket = false,
            'd' | 'm' | 'y' | 'D' | 'M' | 'Y' if !quoted && !bracket => return true,
            _ => {}
        }
    }
    false
}

/// A spreadsheet date (days since 1899-12-30, the fraction being the time of day) as
/// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`.
fn serial_date(serial: f64) -> Option<String> {
    if !(0.0..2_958_466.0).contains(&serial) {
        return None;
    }
    let days = serial.floor() as i64;
    let seconds = ((serial - serial.floor()) * 86_400.0).round() as i64;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days - 25_569 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}-{month:02}-{day:02}");
    Some(if seconds == 0 {
        date
    } else {
        let s = seconds.min(86_399);
        format!("{date} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    })
}

/// A number cell as text: integers without a decimal part, others as written.
fn number_text(raw: &str) -> String {
    match raw.parse::<f64>() {
        Ok(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", n as i64),
        _ => raw.to_owned(),
    }
}

/// The zero-based column of a cell reference (`C12` → 2).
fn column_of(reference: &str) -> Option<usize> {
    let mut col = 0usize;
    let mut letters = 0;
    for c in reference.chars() {
        if c.is_ascii_uppercase() {
            col = col * 26 + (c as usize - 'A' as usize + 1);
            letters += 1;
            if letters > 3 {
                return None;
            }
        } else {
            break;
        }
    }
    (letters > 0 && col <= MAX_COLUMNS).then(|| col - 1)
}

/// The rows of a sheet's XML, parsed as a stream.
struct SheetRows<R: BufRead> {
    reader: quick_xml::Reader<R>,
    buf: Vec<u8>,
    lookup: Lookup,
    /// The last row number seen (rows without `r` follow it).
    last_row: u64,
    done: bool,
}

/// What cells refer to: the shared strings, and which styles are dates.
struct Lookup {
    strings: Vec<String>,
    dates: Vec<bool>,
}

/// The cell being read: its column, type, style, and text.
struct Cell {
    column: usize,
    kind: String,
    date: bool,
    value: String,
    inline: String,
}

impl<R: BufRead> SheetRows<R> {
    fn new(input: R, strings: Vec<String>, dates: Vec<bool>) -> Self {
        Self {
            reader: quick_xml::Reader::from_reader(input),
            buf: Vec::new(),
            lookup: Lookup { strings, dates },
            last_row: 0,
            done: false,
        }
    }
}

impl Lookup {
    fn cell_text(&self, cell: Cell) -> Result<String, XlsxError> {
        Ok(match cell.kind.as_str() {
            "s" => {
                let i: usize = cell.value.trim().parse().map_err(|_| {
                    err(format!(
                        "a shared string index `{}` is not a number",
                        cell.value
                    ))
                })?;
                self.strings
                    .get(i)
                    .cloned()
                    .ok_or_else(|| err(format!("the shared string {i} does not exist")))?
            }
            "inlineStr" => cell.inline,
            "b" => match cell.value.trim() {
                "1" => "TRUE".into(),
                _ => "FALSE".into(),
            },
            "str" | "e" => cell.value,
            _ if cell.date => cell
                .value
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serial_date)
                .unwrap_or(cell.value),
            _ => number_text(cell.value.trim()),
        })
    }

    /// Puts a cell's text at its column, filling skipped columns with empty cells.
    fn place(&self, row: &mut Option<(u64, Vec<String>)>, cell: Cell) -> Result<(), XlsxError> {
        let Some((_, cells)) = row.as_mut() else {
            return Err(err("a cell outside of any row"));
        };
        let column = cell.column;
        let text = self.cell_text(cell)?;
        if column >= cells.len() {
            cells.resize(column + 1, String::new());
        }
        cells[column] = text;
        Ok(())
    }
}

impl<R: BufRead> SheetRows<R> {
    /// Reads up to the end of the next `<row>`.
    fn read_row(&mut self) -> Result<Option<(u64, Vec<String>)>, XlsxError> {
        let mut row: Option<(u64, Vec<String>)> = None;
        let mut cell: Option<Cell> = None;
        let (mut in_v, mut in_is_t) = (false, false);
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf)?;
            match &event {
                Event::Start(e) | Event::Empty(e) => {
                    let empty = matches!(event, Event::Empty(_));
                    match e.local_name().as_ref() {
                        b"row" => {
                            let n = attr(e, b"r")
                                .and_then(|r| r.parse().ok())
                                .unwrap_or(self.last_row + 1);
                            self.last_row = n;
                            if empty {
                                return Ok(Some((n, Vec::new())));
                            }
                            row = Some((n, Vec::new()));
                        }
                        b"c" => {
                            let next = row.as_ref().map_or(0, |(_, cells)| cells.len());
                            let column = match attr(e, b"r") {
                                Some(r) => column_of(&r).ok_or_else(|| {
                                    err(format!("a cell reference `{r}` is not valid"))
                                })?,
                                None => next,
                            };
                            let date = attr(e, b"s")
                                .and_then(|s| s.parse::<usize>().ok())
                                .and_then(|s| self.lookup.dates.get(s).copied())
                                .unwrap_or(false);
                            let c = Cell {
                                column,
                                kind: attr(e, b"t").unwrap_or_default(),
                                date,
                                value: String::new(),
                                inline: String::new(),
                            };
                            if empty {
                                self.lookup.place(&mut row, c)?;
                            } else {
                                cell = Some(c);
                            }
                        }
                        b"v" if !empty => in_v = true,
                        b"t" if !empty && cell.is_some() => in_is_t = true,
                        _ => {}
                    }
                }
                Event::End(e) => match e.local_name().as_ref() {
                    b"v" => in_v = false,
                    b"t" => in_is_t = false,
                    b"c" => {
                        if let Some(c) = cell.take() {
                            self.lookup.place(&mut row, c)?;
                        }
                    }
                    b"row" => return Ok(row),
                    _ => {}
                },
                Event::Eof => return Ok(row),
                other => {
                    if let Some(c) = cell.as_mut() {
                        if in_v {
                            push_text(&mut c.value, other);
                        } else if in_is_t {
                            push_text(&mut c.inline, other);
                        }
                    }
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for SheetRows<R> {
    type Item = Result<(u64, Vec<String>), XlsxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.read_row() {
                Ok(Some((_, cells))) if cells.iter().all(|c| c.trim().is_empty()) => continue,
                Ok(Some(row)) => return Some(Ok(row)),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    // A broken sheet ends the reading: what follows cannot be trusted.
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Rows of a sheet's XML held in memory (tests and fuzzing): shared strings and date
/// styles given.
pub fn rows_of_sheet(
    sheet_xml: &[u8],
    strings: Vec<String>,
    dates: Vec<bool>,
) -> Vec<Result<(u64, Vec<String>), XlsxError>> {
    SheetRows::new(sheet_xml, strings, dates).collect()
}

/// Shared strings from their XML (tests and fuzzing).
pub fn strings_of(xml: &[u8]) -> Result<Vec<String>, XlsxError> {
    shared_strings(xml)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_of_every_kind() {
        let strings = strings_of(
            br#"<sst><si><t>Pr&#233;nom</t></si><si><r><t>Fran</t></r><r><t>&amp;&#231;ois</t></r><rPh><t>x</t></rPh></si><si/></sst>"#,
        )
        .unwrap();
        assert_eq!(strings, ["Prénom", "Fran&çois", ""]);
        let sheet = br#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>T&lt;l&gt;</t></is></c></row>
            <row r="2"/>
            <row r="4"><c r="A4" t="s"><v>1</v></c><c r="B4"><v>33612345678</v></c><c r="C4"><v>1.5</v></c>
              <c r="D4" s="1"><v>45658</v></c><c r="E4" t="b"><v>1</v></c><c r="F4" t="str"><f>A1</f><v>x</v></c></row>
        </sheetData></worksheet>"#;
        let rows: Vec<_> = rows_of_sheet(sheet, strings, vec![false, true])
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [
                (
                    1,
                    vec!["Prénom".to_owned(), String::new(), "T<l>".to_owned()]
                ),
                (
                    4,
                    ["Fran&çois", "33612345678", "1.5", "2025-01-01", "TRUE", "x"]
                        .map(str::to_owned)
                        .to_vec()
                ),
            ]
        );
    }

    #[test]
    fn broken_sheets_are_errors_not_panics() {
        let bad = rows_of_sheet(
            br#"<row><c r="A1" t="s"><v>9</v></c></row>"#,
            vec![],
            vec![],
        );
        assert!(bad[0].as_ref().unwrap_err().0.contains("shared string 9"));
        let bad = rows_of_sheet(br#"<row><c r="1A"><v>1</v></c></row>"#, vec![], vec![]);
        assert!(bad[0].is_err());
        let bad = rows_of_sheet(br#"<c r="A1"><v>1</v></c>"#, vec![], vec![]);
        assert!(bad[0].is_err());
    }

    #[test]
    fn dates_and_formats() {
        assert_eq!(serial_date(1.0).as_deref(), Some("1899-12-31"));
        assert_eq!(serial_date(45658.5).as_deref(), Some("2025-01-01 12:00:00"));
        assert_eq!(serial_date(-1.0), None);
        assert!(is_date_format("dd/mm/yyyy"));
        assert!(!is_date_format("0.00"));
        assert!(!is_date_format("[Red]0;\"dm\""));
        assert_eq!(column_of("AA10"), Some(26));
        assert_eq!(column_of("XFD1"), Some(16_383));
        assert_eq!(column_of("ZZZZ1"), None);
    }
}
