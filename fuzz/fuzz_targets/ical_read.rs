//! Any bytes as an uploaded iCalendar file (folding, parameters, escapes, nesting, dates and
//! durations): every event is read or the file is refused with a line in it, without a panic;
//! read events map to activity JSON, and what Carnet writes of an activity reads back the same.
#![no_main]

use carnet_core::activity::{Activity, ActivityInput};
use carnet_formats::ical::{CalendarWriter, read_calendar};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|b| *b == b'\n').count().max(1);
    let entries = match read_calendar(data) {
        Ok(entries) => entries,
        Err(e) => {
            assert!(e.line >= 1 && e.line <= lines, "the error's line is in the file");
            assert!(!e.message.is_empty());
            return;
        }
    };
    for entry in entries {
        assert!(entry.line >= 1 && entry.line <= lines, "the event's line is in the file");
        let Ok(input) = ActivityInput::from_json(&Value::Object(entry.fields)) else {
            continue;
        };
        // An activity read from the file, written and read again, is the same activity.
        let now = chrono::Utc::now();
        let activity = Activity {
            id: carnet_core::ActivityId::new(),
            uid: entry.uid.filter(|u| !u.is_empty()).unwrap_or_else(|| "uid".into()),
            kind: input.kind,
            subject: input.subject.clone(),
            description: input.description.clone(),
            location: input.location.clone(),
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            done: input.done,
            contact_id: None,
            owner_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let mut w = CalendarWriter::new(Vec::new()).expect("writes to memory");
        w.write(&activity, None).expect("writes to memory");
        let bytes = w.finish().expect("writes to memory");
        let again = read_calendar(&bytes).expect("Carnet reads what it writes");
        assert_eq!(again.len(), 1);
        let reread = ActivityInput::from_json(&Value::Object(again[0].fields.clone()))
            .expect("what Carnet writes is valid");
        // iCalendar keeps whole seconds.
        let mut expected = input;
        expected.starts_at = trunc(expected.starts_at);
        expected.ends_at = expected.ends_at.map(trunc);
        assert_eq!(reread, expected);
    }
});

fn trunc(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::SubsecRound::trunc_subsecs(t, 0)
}
