//! Reading tables users bring (CSV from Excel, Google, Outlook…): the encoding and the
//! delimiter are detected from the first bytes and can be forced; rows stream one at a time.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;
use std::io::{self, BufRead, BufReader, Read};

/// How much of the file is looked at to guess its encoding and delimiter.
const SNIFF: usize = 64 * 1024;

/// What reading a table can fail with.
#[derive(Debug)]
pub enum TableError {
    Io(io::Error),
    /// The encoding name given is not one Carnet knows.
    UnknownEncoding(String),
    /// The file has no header row.
    Empty,
    /// A row could not be read (the record number is 1-based, the header being 1).
    Row {
        row: u64,
        message: String,
    },
}

impl std::fmt::Display for TableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableError::Io(e) => write!(f, "cannot read the file: {e}"),
            TableError::UnknownEncoding(e) => {
                write!(
                    f,
                    "unknown encoding `{e}`; use utf-8, utf-16, windows-1252 or iso-8859-15"
                )
            }
            TableError::Empty => f.write_str("the file is empty: a header row is needed"),
            TableError::Row { row, message } => write!(f, "row {row}: {message}"),
        }
    }
}

impl std::error::Error for TableError {}

impl From<io::Error> for TableError {
    fn from(e: io::Error) -> Self {
        TableError::Io(e)
    }
}

/// Overrides of what is otherwise detected.
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    /// `utf-8`, `utf-16le`, `windows-1252`, `iso-8859-1`, `iso-8859-15`, … (WHATWG labels).
    pub encoding: Option<String>,
    pub delimiter: Option<u8>,
}

/// Whether `label` names an encoding a table can be forced to (WHATWG labels).
pub fn known_encoding(label: &str) -> bool {
    Encoding::for_label(label.as_bytes()).is_some()
}

/// The encoding of a file: its byte order mark, else UTF-8 if the sample is valid UTF-8, else
/// Windows-1252 (what Excel writes on French and English Windows; a superset of ISO-8859-1).
pub fn detect_encoding(sample: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(sample) {
        return encoding;
    }
    // Excel's "Unicode text" without a BOM: many NUL bytes in odd or even positions.
    let zeros_even = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let zeros_odd = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|b| **b == 0)
        .count();
    if sample.len() >= 4 && zeros_odd > sample.len() / 4 {
        return UTF_16LE;
    }
    if sample.len() >= 4 && zeros_even > sample.len() / 4 {
        return UTF_16BE;
    }
    match std::str::from_utf8(sample) {
        Ok(_) => UTF_8,
        // A sample cut inside a character is still UTF-8.
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => WINDOWS_1252,
    }
}

/// The delimiter of a CSV text: whichever of `,` `;` tab `|` is most frequent in the first
/// line, outside quotes.
pub fn detect_delimiter(text: &str) -> u8 {
    let first_line = text.lines().next().unwrap_or("");
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0), (b'|', 0)];
    let mut quoted = false;
    for b in first_line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(entry) = counts.iter_mut().find(|(d, _)| *d == b) {
            entry.1 += 1;
        }
    }
    counts
        .iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
        .map_or(b',', |(d, _)| *d)
}

/// A table being read: its header and then its rows, one at a time.
pub struct TableReader {
    pub headers: Vec<String>,
    pub encoding: &'static str,
    pub delimiter: u8,
    records: csv::StringRecordsIntoIter<Box<dyn Read + Send>>,
    /// Rows read so far, the header included.
    row: u64,
}

impl TableReader {
    /// Opens a CSV stream; reads only a sample up front.
    pub fn csv(
        input: impl Read + Send + 'static,
        options: &TableOptions,
    ) -> Result<Self, TableError> {
        let mut buffered = BufReader::with_capacity(SNIFF, input);
        let sample = buffered.fill_buf()?.to_vec();
        let encoding = match &options.encoding {
            Some(label) => Encoding::for_label(label.as_bytes())
                .ok_or_else(|| TableError::UnknownEncoding(label.clone()))?,
            None => detect_encoding(&sample),
        };
        let (decoded_sample, _, _) = encoding.decode(&sample);
        let delimiter = options
            .delimiter
            .unwrap_or_else(|| detect_delimiter(decoded_sample.trim_start_matches('\u{feff}')));
        let decoder = DecodeReaderBytesBuilder::new()
            .encoding(Some(encoding))
            .bom_override(true)
            .strip_bom(true)
            .build(buffered);
        let reader: Box<dyn Read + Send> = Box::new(decoder);
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(reader);
        let headers: Vec<String> = csv
            .headers()
            .map_err(|e| TableError::Row {
                row: 1,
                message: e.to_string(),
            })?
            .iter()
            .map(|h| h.trim().to_owned())
            .collect();
        if headers.iter().all(String::is_empty) {
            return Err(TableError::Empty);
        }
        Ok(Self {
            headers,
            encoding: encoding.name(),
            delimiter,
            records: csv.into_records(),
            row: 1,
        })
    }
}

impl Iterator for TableReader {
    /// The row number as a spreadsheet shows it (the header is row 1; a quoted cell spanning
    /// lines is still one row) and the cells.
    type Item = Result<(u64, Vec<String>), TableError>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = self.records.next()?;
        self.row += 1;
        let row = self.row;
        Some(match record {
            Ok(r) => Ok((row, r.iter().map(str::to_owned).collect())),
            Err(e) => Err(TableError::Row {
                row,
                message: e.to_string(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> (TableReader, Vec<Vec<String>>) {
        let mut reader = TableReader::csv(
            std::io::Cursor::new(bytes.to_vec()),
            &TableOptions::default(),
        )
        .unwrap();
        let rows = reader.by_ref().map(|r| r.unwrap().1).collect();
        (reader, rows)
    }

    #[test]
    fn utf8_with_bom_and_semicolons() {
        let (t, rows) = read("\u{feff}Prénom;Nom\r\nÉloïse;\"Lefèvre; fils\"\r\n".as_bytes());
        assert_eq!(t.headers, ["Prénom", "Nom"]);
        assert_eq!((t.encoding, t.delimiter), ("UTF-8", b';'));
        assert_eq!(rows, [["Éloïse", "Lefèvre; fils"]]);
    }

    #[test]
    fn windows_1252_from_french_excel() {
        let (encoded, _, _) =
            WINDOWS_1252.encode("Prénom;Nom;Société\r\nÉloïse;Lefèvre;Œuvres & Cie\r\n");
        let (t, rows) = read(&encoded);
        assert_eq!(t.encoding, "windows-1252");
        assert_eq!(rows, [["Éloïse", "Lefèvre", "Œuvres & Cie"]]);
    }

    #[test]
    fn utf16_unicode_text_with_tabs() {
        let text = "First Name\tLast Name\r\nZoé\t李\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        for unit in text.encode_utf16() {
            bytes.extend(unit.to_le_bytes());
        }
        let (t, rows) = read(&bytes);
        assert_eq!((t.encoding, t.delimiter), ("UTF-16LE", b'\t'));
        assert_eq!(rows, [["Zoé", "李"]]);
    }

    #[test]
    fn forced_encoding_and_errors() {
        let opts = TableOptions {
            encoding: Some("iso-8859-15".into()),
            delimiter: Some(b','),
        };
        let mut t =
            TableReader::csv(std::io::Cursor::new(b"a,b\n\xa4,x\n".to_vec()), &opts).unwrap();
        assert_eq!(t.next().unwrap().unwrap().1, ["€", "x"]);
        let bad = TableOptions {
            encoding: Some("klingon".into()),
            delimiter: None,
        };
        assert!(matches!(
            TableReader::csv(std::io::Cursor::new(b"a".to_vec()), &bad),
            Err(TableError::UnknownEncoding(_))
        ));
        assert!(matches!(
            TableReader::csv(std::io::Cursor::new(Vec::new()), &TableOptions::default()),
            Err(TableError::Empty)
        ));
    }

    #[test]
    fn row_numbers_are_spreadsheet_rows() {
        let bytes = b"a,b\r\n1,\"two\r\nlines\"\r\n3,4\r\n".to_vec();
        let mut t =
            TableReader::csv(std::io::Cursor::new(bytes), &TableOptions::default()).unwrap();
        assert_eq!(t.next().unwrap().unwrap().0, 2);
        assert_eq!(
            t.next().unwrap().unwrap(),
            (3, vec!["3".to_owned(), "4".to_owned()])
        );
    }
}
