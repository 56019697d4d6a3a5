//! Reading Carnet's own JSON export back: an array of contacts as the API shows them.

use serde_json::{Map, Value};
use std::io::BufRead;

/// Members of an exported contact that an import does not write: identity, bookkeeping, and
/// the owner (ownership goes to whoever imports, as owners belong to one workspace).
const NOT_IMPORTED: [&str; 6] = [
    "id",
    "version",
    "created_at",
    "updated_at",
    "deleted_at",
    "owner_id",
];

/// One contact of the file: its position (1-based), its writable members, its id.
pub type JsonRow = (u64, Value, Option<String>);

/// An item that is not a contact: its position and why.
pub type BadItem = (u64, String);

/// Largest contact a file may hold (the API takes 1 MiB bodies).
const MAX_ITEM: usize = 4 * 1024 * 1024;

/// One item of the array: a contact without the members an import does not write, and its
/// id; anything but an object is refused with its position, not dropped.
fn row_of(n: u64, item: Value) -> Result<JsonRow, BadItem> {
    match item {
        Value::Object(members) => {
            let id = members.get("id").and_then(Value::as_str).map(str::to_owned);
            let body: Map<String, Value> = members
                .into_iter()
                .filter(|(k, _)| !NOT_IMPORTED.contains(&k.as_str()))
                .collect();
            Ok((n, Value::Object(body), id))
        }
        _ => Err((n, "is not a JSON object".to_owned())),
    }
}

/// The contacts of a JSON export, read one at a time: only the contact being read is in
/// memory, whatever the size of the file. An item that is not valid JSON is reported with
/// its position and the next one is read.
pub struct JsonRows<R: BufRead> {
    input: R,
    /// Items read so far.
    n: u64,
    done: bool,
    /// A problem found after the last item, reported after it.
    pending: Option<BadItem>,
}

/// Starts reading a JSON export; anything but an array is refused up front.
pub fn stream<R: BufRead>(mut input: R) -> Result<JsonRows<R>, String> {
    let not_array = || "a Carnet JSON export is an array of contacts".to_owned();
    skip_bom(&mut input).map_err(|e| e.to_string())?;
    match next_significant(&mut input).map_err(|e| e.to_string())? {
        Some(b'[') => Ok(JsonRows {
            input,
            n: 0,
            done: false,
            pending: None,
        }),
        _ => Err(not_array()),
    }
}

fn skip_bom(input: &mut impl BufRead) -> std::io::Result<()> {
    if input.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    Ok(())
}

/// The next byte that is not white space, consumed.
fn next_significant(input: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buf = input.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        input.consume(1);
        if !b.is_ascii_whitespace() {
            return Ok(Some(b));
        }
    }
}

/// How an item's text ended.
enum End {
    /// A `,`: another item follows.
    Comma,
    /// The `]` closing the array.
    Close,
    /// The file ended first.
    Eof,
}

/// Where a byte of JSON text is: inside a string or not, and how deeply nested.
#[derive(Default)]
struct Scanner {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Scanner {
    fn track(&mut self, b: u8) {
        if self.in_string {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }
}

impl<R: BufRead> JsonRows<R> {
    /// The bytes of the next item, up to the `,` or `]` that ends it outside any string or
    /// nesting. `None` for the text when it is over the size limit (it is skipped).
    fn item_text(&mut self, first: u8) -> std::io::Result<(Option<Vec<u8>>, End)> {
        let mut text = Some(vec![first]);
        let mut scan = Scanner::default();
        scan.track(first);
        loop {
            let buf = self.input.fill_buf()?;
            let Some(&b) = buf.first() else {
                return Ok((text, End::Eof));
            };
            self.input.consume(1);
            let outside = !scan.in_string && scan.depth == 0;
            if outside && b == b',' {
                return Ok((text, End::Comma));
            }
            if outside && b == b']' {
                return Ok((text, End::Close));
            }
            scan.track(b);
            if let Some(t) = text.as_mut() {
                t.push(b);
                if t.len() > MAX_ITEM {
                    text = None;
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for JsonRows<R> {
    type Item = Result<JsonRow, BadItem>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return self.pending.take().map(Err);
        }
        let first = match next_significant(&mut self.input) {
            Ok(Some(b']')) if self.n == 0 => {
                self.done = true;
                return None;
            }
            Ok(Some(b)) => b,
            Ok(None) => {
                self.done = true;
                return Some(Err((
                    self.n + 1,
                    "the file ends before the array does".into(),
                )));
            }
            Err(e) => {
                self.done = true;
                return Some(Err((self.n + 1, format!("cannot read the file: {e}"))));
            }
        };
        self.n += 1;
        let n = self.n;
        let (text, end) = match self.item_text(first) {
            Ok(item) => item,
            Err(e) => {
                self.done = true;
                return Some(Err((n, format!("cannot read the file: {e}"))));
            }
        };
        let item = match text {
            None => Err((n, format!("is larger than {} MiB", MAX_ITEM / 1024 / 1024))),
            Some(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(value) => row_of(n, value),
                Err(e) => Err((n, format!("is not valid JSON: {e}"))),
            },
        };
        match end {
            End::Comma => {}
            End::Close => {
                self.done = true;
                // Only white space may follow the array.
                if let Ok(Some(_)) = next_significant(&mut self.input) {
                    self.pending = Some((n + 1, "text after the end of the array".into()));
                }
            }
            End::Eof => {
                self.done = true;
                if item.is_ok() {
                    // The last item was whole: it is read, and the cut reported after it.
                    self.pending = Some((n + 1, "the file ends before the array does".into()));
                }
            }
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Vec<Result<JsonRow, BadItem>> {
        stream(text.as_bytes()).unwrap().collect()
    }

    #[test]
    fn keeps_writable_members_and_the_id() {
        let rows = read(
            r#"[{"id": "x", "last_name": "A, [B]", "version": 3, "owner_id": "u", "tags": ["t"]}, 5]"#,
        );
        assert_eq!(
            rows[0],
            Ok((
                1,
                json!({"last_name": "A, [B]", "tags": ["t"]}),
                Some("x".into())
            ))
        );
        assert_eq!(rows[1], Err((2, "is not a JSON object".into())));
        assert_eq!(rows.len(), 2);
        assert!(stream(&br#"{"a": 1}"#[..]).is_err());
        assert!(stream(&b""[..]).is_err());
    }

    #[test]
    fn broken_items_are_reported_and_reading_goes_on() {
        assert_eq!(read("\u{feff} [ ] "), []);
        let rows = read(r#"[{"last_name": "A"}, {"last_name": }, {"last_name": "\"}, ]\" C"}]"#);
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows[0].is_ok());
        assert!(
            rows[1]
                .as_ref()
                .unwrap_err()
                .1
                .starts_with("is not valid JSON")
        );
        assert_eq!(rows[2].as_ref().unwrap().1["last_name"], "\"}, ]\" C");
        let cut = read(r#"[{"last_name": "A"}, {"last_name": "B""#);
        assert_eq!(cut.len(), 2);
        assert_eq!(
            cut[1],
            Err((
                2,
                "is not valid JSON: EOF while parsing an object at line 1 column 17".into()
            ))
        );
        let unclosed = read(r#"[{"last_name": "A"}"#);
        assert!(unclosed[0].is_ok());
        assert_eq!(
            unclosed[1],
            Err((2, "the file ends before the array does".into()))
        );
        let trailing = read(r#"[{"last_name": "A"}] x"#);
        assert!(trailing[0].is_ok(), "the last contact is kept");
        assert_eq!(
            trailing[1],
            Err((2, "text after the end of the array".into()))
        );
        assert_eq!(trailing.len(), 2);
    }
}
