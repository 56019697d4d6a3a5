//! XLSX writing: one sheet of text cells, streamed row by row into a zip archive.

use std::io::{self, Write};
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

fn zip_error(e: zip::result::ZipError) -> io::Error {
    io::Error::other(e)
}

/// Escapes XML text; characters XML 1.0 cannot hold at all become U+FFFD.
pub fn xml_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Writes a workbook with one sheet named `sheet`; call [`XlsxWriter::finish`] at the end.
pub struct XlsxWriter<W: Write> {
    zip: ZipWriter<StreamWriter<W>>,
    rows: usize,
}

impl<W: Write> XlsxWriter<W> {
    pub fn new(out: W, sheet: &str) -> io::Result<Self> {
        let mut zip = ZipWriter::new_stream(out);
        let options =
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let workbook = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{}" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
            xml_text(sheet)
        );
        for (name, body) in [
            ("[Content_Types].xml", CONTENT_TYPES),
            ("_rels/.rels", RELS),
            ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS),
            ("xl/workbook.xml", workbook.as_str()),
        ] {
            zip.start_file(name, options).map_err(zip_error)?;
            zip.write_all(body.as_bytes())?;
        }
        zip.start_file("xl/worksheets/sheet1.xml", options)
            .map_err(zip_error)?;
        zip.write_all(
            br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
        )?;
        Ok(Self { zip, rows: 0 })
    }

    /// One row of text cells.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> io::Result<()> {
        self.rows += 1;
        write!(self.zip, r#"<row r="{}">"#, self.rows)?;
        for cell in cells {
            let text = cell.as_ref();
            if text.is_empty() {
                self.zip.write_all(b"<c/>")?;
            } else {
                write!(
                    self.zip,
                    r#"<c t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                    xml_text(text)
                )?;
            }
        }
        self.zip.write_all(b"</row>")
    }

    /// Closes the sheet and the archive; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.zip.write_all(b"</sheetData></worksheet>")?;
        let stream = self.zip.finish().map_err(zip_error)?;
        Ok(stream.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn writes_a_workbook_that_reads_back() {
        let mut w = XlsxWriter::new(Vec::new(), "Contacts").unwrap();
        w.row(&["Prénom", "Nom"]).unwrap();
        w.row(&["Éloïse", "<Lefèvre & fils>"]).unwrap();
        w.row(&["", "bell\u{7}"]).unwrap();
        let bytes = w.finish().unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut sheet = String::new();
        archive
            .by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut sheet)
            .unwrap();
        assert!(sheet.contains(
            r#"<row r="2"><c t="inlineStr"><is><t xml:space="preserve">Éloïse</t></is></c>"#
        ));
        assert!(sheet.contains("&lt;Lefèvre &amp; fils&gt;"));
        assert!(sheet.contains("bell\u{FFFD}"));
        assert!(sheet.ends_with("</sheetData></worksheet>"));
        for part in [
            "[Content_Types].xml",
            "_rels/.rels",
            "xl/workbook.xml",
            "xl/_rels/workbook.xml.rels",
        ] {
            assert!(archive.by_name(part).is_ok(), "{part}");
        }
    }
}
