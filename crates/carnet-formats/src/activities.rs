//! Activity exports: iCalendar or Carnet's JSON, one activity at a time.

use crate::ical::{Attendee, CalendarWriter};
use crate::json_array::JsonArrayWriter;
use carnet_core::activity::Activity;
use carnet_core::contact::Contact;
use std::io::{self, Write};
use std::str::FromStr;

/// An activity export format, as the API and the CLI name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityFormat {
    /// iCalendar (RFC 5545): tasks as to-dos, the rest as events.
    Ics,
    /// Carnet's own JSON: an array of activities exactly as the API shows them.
    Json,
}

impl ActivityFormat {
    pub const NAMES: &'static str = "ics, json";

    pub fn name(self) -> &'static str {
        match self {
            ActivityFormat::Ics => "ics",
            ActivityFormat::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ActivityFormat::Ics => "text/calendar; charset=utf-8",
            ActivityFormat::Json => "application/json",
        }
    }

    /// The file name extension, the same as the name.
    pub fn extension(self) -> &'static str {
        self.name()
    }
}

impl FromStr for ActivityFormat {
    type Err = crate::UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ics" => Ok(ActivityFormat::Ics),
            "json" => Ok(ActivityFormat::Json),
            other => Err(crate::UnknownFormat {
                name: other.to_owned(),
                expected: Self::NAMES,
            }),
        }
    }
}

/// Writes activities in one format; call [`ActivitiesWriter::finish`] after the last one.
pub enum ActivitiesWriter<W: Write> {
    Calendar(CalendarWriter<W>),
    Json(JsonArrayWriter<W>),
}

impl<W: Write> ActivitiesWriter<W> {
    pub fn new(out: W, format: ActivityFormat) -> io::Result<Self> {
        Ok(match format {
            ActivityFormat::Ics => Self::Calendar(CalendarWriter::new(out)?),
            ActivityFormat::Json => Self::Json(JsonArrayWriter::new(out)?),
        })
    }

    /// One activity, with the contact it is about (its attendee in iCalendar, when it has
    /// an e-mail address; JSON carries the `contact_id` only).
    pub fn write(&mut self, a: &Activity, contact: Option<&Contact>) -> io::Result<()> {
        match self {
            Self::Calendar(w) => {
                let name = contact.map(Contact::display_name);
                let attendee = contact
                    .and_then(|c| c.emails.first())
                    .zip(name.as_deref())
                    .map(|(email, name)| Attendee {
                        name,
                        email: &email.value,
                    });
                w.write(a, attendee)
            }
            Self::Json(w) => w.write(a),
        }
    }

    /// Ends the file and returns the output.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Self::Calendar(w) => w.finish(),
            Self::Json(w) => w.finish(),
        }
    }
}
