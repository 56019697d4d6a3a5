//! CSV writing (RFC 4180): fields quoted when they hold the delimiter, a quote or a line break.

use std::io::{self, Write};

/// How a CSV file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    /// Starts with a UTF-8 byte order mark (Excel needs it to read UTF-8).
    pub bom: bool,
}

impl Dialect {
    pub const RFC4180: Dialect = Dialect {
        delimiter: b',',
        bom: false,
    };
    pub const EXCEL_FR: Dialect = Dialect {
        delimiter: b';',
        bom: true,
    };
}

/// Writes rows of text fields.
pub struct CsvWriter<W: Write> {
    out: W,
    dialect: Dialect,
}

impl<W: Write> CsvWriter<W> {
    pub fn new(mut out: W, dialect: Dialect) -> io::Result<Self> {
        if dialect.bom {
            out.write_all("\u{feff}".as_bytes())?;
        }
        Ok(Self { out, dialect })
    }

    pub fn row<S: AsRef<str>>(&mut self, fields: &[S]) -> io::Result<()> {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.out.write_all(&[self.dialect.delimiter])?;
            }
            let field = field.as_ref();
            let needs_quotes = field
                .bytes()
                .any(|b| b == self.dialect.delimiter || b == b'"' || b == b'\n' || b == b'\r')
                || field.starts_with(' ')
                || field.ends_with(' ');
            if needs_quotes {
                self.out.write_all(b"\"")?;
                self.out.write_all(field.replace('"', "\"\"").as_bytes())?;
                self.out.write_all(b"\"")?;
            } else {
                self.out.write_all(field.as_bytes())?;
            }
        }
        self.out.write_all(b"\r\n")
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let mut w = CsvWriter::new(Vec::new(), Dialect::RFC4180).unwrap();
        w.row(&["plain", "a,b", "say \"hi\"", "two\nlines", "Éloïse", ""])
            .unwrap();
        let text = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(
            text,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",Éloïse,\r\n"
        );
    }

    #[test]
    fn excel_fr_uses_semicolons_and_a_bom() {
        let mut w = CsvWriter::new(Vec::new(), Dialect::EXCEL_FR).unwrap();
        w.row(&["1,5", "a;b"]).unwrap();
        let bytes = w.into_inner();
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        assert_eq!(
            String::from_utf8(bytes[3..].to_vec()).unwrap(),
            "1,5;\"a;b\"\r\n"
        );
    }
}
