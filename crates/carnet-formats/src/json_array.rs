//! A JSON array written one record at a time: `[`, the records as the API shows them
//! separated by `,\n`, then `]`.

use serde::Serialize;
use std::io::{self, Write};

pub struct JsonArrayWriter<W: Write> {
    out: W,
    first: bool,
}

impl<W: Write> JsonArrayWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(b"[")?;
        Ok(Self { out, first: true })
    }

    pub fn write(&mut self, record: &impl Serialize) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",\n")?;
        }
        self.first = false;
        serde_json::to_writer(&mut self.out, record).map_err(io::Error::other)
    }

    /// Closes the array and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(b"]\n")?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_json_array() {
        let mut w = JsonArrayWriter::new(Vec::new()).unwrap();
        assert_eq!(w.finish().unwrap(), b"[]\n");
        w = JsonArrayWriter::new(Vec::new()).unwrap();
        w.write(&1).unwrap();
        w.write(&"a").unwrap();
        let out = w.finish().unwrap();
        let back: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, [serde_json::json!(1), serde_json::json!("a")]);
    }
}
