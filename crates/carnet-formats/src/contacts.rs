//! Contacts in every export format: the column layout for tables, and one writer that takes
//! contacts one at a time.

use crate::Format;
use crate::csv::{CsvWriter, Dialect};
use crate::json_array::JsonArrayWriter;
use crate::vcard::{self, Version};
use crate::xlsx::XlsxWriter;
use carnet_core::contact::{Contact, LabeledValue};
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// How many e-mail and phone columns a table export has (the most any exported contact has),
/// so that every value gets a cell and nothing is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub emails: usize,
    pub phones: usize,
}

impl Layout {
    /// The header row: stable English names that Carnet's import recognises.
    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = [
            "id",
            "first_name",
            "last_name",
            "job_title",
            "company_id",
            "owner_id",
            "tags",
        ]
        .map(str::to_owned)
        .to_vec();
        for i in 1..=self.emails {
            h.push(format!("email_{i}"));
            h.push(format!("email_{i}_label"));
        }
        for i in 1..=self.phones {
            h.push(format!("phone_{i}"));
            h.push(format!("phone_{i}_label"));
        }
        h.extend(["custom", "created_at", "updated_at"].map(str::to_owned));
        h
    }

    /// One contact as cells in [`Layout::header`] order. Tags are joined with `, `; custom
    /// fields are one JSON object.
    pub fn row(&self, c: &Contact) -> Vec<String> {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let mut r = vec![
            c.id.to_string(),
            opt(&c.first_name),
            opt(&c.last_name),
            opt(&c.job_title),
            c.company_id.map(|u| u.to_string()).unwrap_or_default(),
            c.owner_id.map(|u| u.to_string()).unwrap_or_default(),
            c.tags.join(", "),
        ];
        let cells = |items: &[LabeledValue], n: usize, r: &mut Vec<String>| {
            for i in 0..n {
                match items.get(i) {
                    Some(item) => r.extend([item.value.clone(), item.label.clone()]),
                    None => r.extend([String::new(), String::new()]),
                }
            }
        };
        cells(&c.emails, self.emails, &mut r);
        cells(&c.phones, self.phones, &mut r);
        r.push(if c.custom.is_empty() {
            String::new()
        } else {
            serde_json::Value::Object(c.custom.clone()).to_string()
        });
        r.push(c.created_at.to_rfc3339());
        r.push(c.updated_at.to_rfc3339());
        r
    }
}

enum Sink<W: Write> {
    Csv(CsvWriter<W>),
    Json(JsonArrayWriter<W>),
    Vcard(W, Version),
    // Boxed: the zip writer's state is large, and a writer is made once per export.
    Xlsx(Box<XlsxWriter<W>>),
}

/// Writes contacts in one format; call [`ContactsWriter::finish`] after the last one.
pub struct ContactsWriter<W: Write> {
    sink: Sink<W>,
    layout: Layout,
}

impl<W: Write> ContactsWriter<W> {
    /// Starts the file (BOM, header row, opening bracket, …).
    pub fn new(out: W, format: Format, layout: Layout) -> io::Result<Self> {
        let sink = match format {
            Format::Csv | Format::ExcelFr => {
                let dialect = if format == Format::Csv {
                    Dialect::RFC4180
                } else {
                    Dialect::EXCEL_FR
                };
                let mut w = CsvWriter::new(out, dialect)?;
                w.row(&layout.header())?;
                Sink::Csv(w)
            }
            Format::Json => Sink::Json(JsonArrayWriter::new(out)?),
            Format::Vcard4 => Sink::Vcard(out, Version::V4),
            Format::Vcard3 => Sink::Vcard(out, Version::V3),
            Format::Xlsx => {
                let mut w = XlsxWriter::new(out, "Contacts")?;
                w.row(&layout.header())?;
                Sink::Xlsx(Box::new(w))
            }
        };
        Ok(Self { sink, layout })
    }

    pub fn write(&mut self, c: &Contact) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv(w) => w.row(&self.layout.row(c)),
            Sink::Xlsx(w) => w.row(&self.layout.row(c)),
            Sink::Vcard(out, version) => vcard::write_contact(out, c, *version),
            Sink::Json(w) => w.write(c),
        }
    }

    /// Ends the file and returns the output.
    pub fn finish(self) -> io::Result<W> {
        match self.sink {
            Sink::Csv(w) => Ok(w.into_inner()),
            Sink::Xlsx(w) => w.finish(),
            Sink::Vcard(out, _) => Ok(out),
            Sink::Json(w) => w.finish(),
        }
    }
}

/// A `Write` whose bytes can be taken out between records: lets a streaming export hand each
/// page's bytes to the network while the writer keeps its state.
#[derive(Clone, Default)]
pub struct Spool(Arc<Mutex<Vec<u8>>>);

impl Spool {
    /// Everything written since the last call.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_core::ContactInput;
    use serde_json::json;

    fn contact(body: serde_json::Value) -> Contact {
        let input = ContactInput::from_json(&body).unwrap();
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        Contact {
            id: carnet_core::ContactId(uuid::Uuid::now_v7()),
            first_name: input.first_name,
            last_name: input.last_name,
            emails: input.emails,
            phones: input.phones,
            company_id: input.company_id,
            job_title: input.job_title,
            tags: input.tags,
            custom: input.custom,
            owner_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    #[test]
    fn every_value_gets_a_cell() {
        let layout = Layout {
            emails: 2,
            phones: 1,
        };
        let c = contact(
            json!({"last_name": "Durand", "emails": [{"value": "a@b.fr"}, {"label": "home", "value": "c@d.fr"}], "custom": {"k": 1}}),
        );
        let header = layout.header();
        let row = layout.row(&c);
        assert_eq!(header.len(), row.len());
        let cell = |name: &str| row[header.iter().position(|h| h == name).unwrap()].clone();
        assert_eq!(cell("email_2"), "c@d.fr");
        assert_eq!(cell("email_2_label"), "home");
        assert_eq!(cell("phone_1"), "");
        assert_eq!(cell("custom"), "{\"k\":1}");
    }

    #[test]
    fn json_export_reads_back_as_the_api_shows_contacts() {
        let contacts = [
            contact(json!({"last_name": "A"})),
            contact(json!({"first_name": "É", "tags": ["x"]})),
        ];
        let spool = Spool::default();
        let mut w = ContactsWriter::new(
            spool.clone(),
            Format::Json,
            Layout {
                emails: 0,
                phones: 0,
            },
        )
        .unwrap();
        let mut chunks = Vec::new();
        for c in &contacts {
            w.write(c).unwrap();
            chunks.extend(spool.take());
        }
        w.finish().unwrap();
        chunks.extend(spool.take());
        let back: Vec<Contact> = serde_json::from_slice(&chunks).unwrap();
        assert_eq!(back, contacts);
    }

    #[test]
    fn spooled_xlsx_is_a_valid_archive() {
        let spool = Spool::default();
        let layout = Layout {
            emails: 1,
            phones: 1,
        };
        let mut w = ContactsWriter::new(spool.clone(), Format::Xlsx, layout).unwrap();
        let mut bytes = spool.take();
        for i in 0..100 {
            w.write(&contact(json!({"last_name": format!("Nom {i}")})))
                .unwrap();
            bytes.extend(spool.take());
        }
        w.finish().unwrap();
        bytes.extend(spool.take());
        let archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 5);
    }
}
