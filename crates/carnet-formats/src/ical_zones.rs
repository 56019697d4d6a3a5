//! The time zones a calendar file defines (`VTIMEZONE`), to read its local times as UTC.
//!
//! Outlook, Apple Calendar, Thunderbird and Google write an event's times in the organiser's
//! zone (`DTSTART;TZID=Europe/Paris:20261201T090000`) and describe that zone in the file: one
//! or more observances (`STANDARD`, `DAYLIGHT`), each an offset from a start, repeated yearly
//! by a rule such as "the last Sunday of March". That description is what is read here, so
//! Windows zone names ("Romance Standard Time") work as well as IANA ones, with no time zone
//! database in Carnet.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc, Weekday};
use std::collections::HashMap;

/// One observance of a zone: from `start` (local time), `offset_to` seconds east of UTC,
/// repeated by `rule` when it has one.
#[derive(Debug, Clone, PartialEq)]
struct Observance {
    start: NaiveDateTime,
    offset_from: i32,
    offset_to: i32,
    rule: Option<YearlyRule>,
}

/// `FREQ=YEARLY;BYMONTH=m;BYDAY=nDD[;UNTIL=…]`: the `week`-th (from the end when negative)
/// `weekday` of `month`, at the observance's time of day.
#[derive(Debug, Clone, PartialEq)]
struct YearlyRule {
    month: u32,
    week: i8,
    weekday: Weekday,
    until: Option<NaiveDateTime>,
}

/// The zones of one file, by `TZID`.
#[derive(Debug, Default)]
pub(crate) struct Zones {
    zones: HashMap<String, Result<Vec<Observance>, String>>,
}

/// A `VTIMEZONE` being read.
#[derive(Debug, Default)]
pub(crate) struct ZoneReader {
    tzid: Option<String>,
    observances: Vec<Observance>,
    current: Option<Partial>,
    problem: Option<String>,
}

/// A `STANDARD` or `DAYLIGHT` being read.
#[derive(Debug, Default)]
struct Partial {
    start: Option<NaiveDateTime>,
    offset_from: Option<i32>,
    offset_to: Option<i32>,
    rule: Option<YearlyRule>,
}

impl ZoneReader {
    /// `BEGIN:STANDARD` or `BEGIN:DAYLIGHT`.
    pub(crate) fn begin_observance(&mut self) {
        self.current = Some(Partial::default());
    }

    /// `END:STANDARD` or `END:DAYLIGHT`.
    pub(crate) fn end_observance(&mut self) {
        let Some(p) = self.current.take() else {
            return;
        };
        match (p.start, p.offset_to) {
            (Some(start), Some(offset_to)) => self.observances.push(Observance {
                start,
                offset_from: p.offset_from.unwrap_or(offset_to),
                offset_to,
                rule: p.rule,
            }),
            _ => self.fail("an observance lacks DTSTART or TZOFFSETTO"),
        }
    }

    /// A property of the zone (`TZID`) or of the observance being read.
    pub(crate) fn property(&mut self, name: &str, value: &str) {
        let value = value.trim();
        if name == "TZID" && self.current.is_none() {
            self.tzid = Some(value.to_owned());
            return;
        }
        let Some(p) = self.current.as_mut() else {
            return;
        };
        let read = match name {
            "DTSTART" => local_time(value).map(|t| p.start = Some(t)),
            "TZOFFSETFROM" => offset(value).map(|o| p.offset_from = Some(o)),
            "TZOFFSETTO" => offset(value).map(|o| p.offset_to = Some(o)),
            "RRULE" => yearly_rule(value).map(|r| p.rule = Some(r)),
            _ => Some(()),
        };
        if read.is_none() {
            self.fail(&format!("its {name} `{value}` is not understood"));
        }
    }

    fn fail(&mut self, problem: &str) {
        self.problem.get_or_insert_with(|| problem.to_owned());
    }

    /// `END:VTIMEZONE`: the zone joins the file's zones (a broken one is kept with its
    /// problem, which the times using it report).
    pub(crate) fn finish(self, zones: &mut Zones) {
        let Some(tzid) = self.tzid else {
            return;
        };
        let zone = match self.problem {
            Some(problem) => Err(problem),
            None if self.observances.is_empty() => Err("it has no observance".to_owned()),
            None => Ok(self.observances),
        };
        zones.zones.insert(tzid, zone);
    }
}

impl Zones {
    /// `local`, a time in zone `tzid` of this file, as UTC.
    pub(crate) fn to_utc(&self, tzid: &str, local: NaiveDateTime) -> Result<DateTime<Utc>, String> {
        let observances = match self.zones.get(tzid) {
            Some(Ok(observances)) => observances,
            Some(Err(problem)) => {
                return Err(format!("time zone `{tzid}` cannot be read: {problem}"));
            }
            None => {
                return Err(format!(
                    "time zone `{tzid}` is not described in the file (no VTIMEZONE)"
                ));
            }
        };
        // The observance in force is the one whose latest onset is the latest before `local`;
        // before every onset, the earliest observance's offset from.
        let in_force = observances
            .iter()
            .filter_map(|o| latest_onset(o, local).map(|onset| (onset, o.offset_to)))
            .max_by_key(|(onset, _)| *onset)
            .map(|(_, offset)| offset)
            .or_else(|| {
                observances
                    .iter()
                    .min_by_key(|o| o.start)
                    .map(|o| o.offset_from)
            })
            .unwrap_or(0);
        local
            .checked_sub_signed(Duration::seconds(i64::from(in_force)))
            .map(|t| Utc.from_utc_datetime(&t))
            .ok_or_else(|| format!("`{local}` is out of range"))
    }
}

/// The latest time at or before `local` at which `o` began to apply, if any.
fn latest_onset(o: &Observance, local: NaiveDateTime) -> Option<NaiveDateTime> {
    if o.start > local {
        return None;
    }
    let Some(rule) = &o.rule else {
        return Some(o.start);
    };
    let year = local.year();
    [year, year - 1]
        .into_iter()
        .filter_map(|y| nth_weekday(y, rule.month, rule.week, rule.weekday))
        .map(|day| day.and_time(o.start.time()))
        .filter(|onset| {
            *onset <= local && *onset >= o.start && rule.until.is_none_or(|u| *onset <= u)
        })
        .max()
        .or(Some(o.start))
}

/// The `week`-th `weekday` of a month (from its end when `week` is negative).
fn nth_weekday(year: i32, month: u32, week: i8, weekday: Weekday) -> Option<NaiveDate> {
    if week > 0 {
        let first = NaiveDate::from_ymd_opt(year, month, 1)?;
        let shift =
            (7 + weekday.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
        let day =
            first.checked_add_signed(Duration::days(i64::from(shift) + 7 * i64::from(week - 1)))?;
        (day.month() == month).then_some(day)
    } else {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        let last = next.pred_opt()?;
        let shift =
            (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        let back = i64::from(shift) + 7 * (i64::from(week.unsigned_abs()) - 1);
        let day = last.checked_sub_signed(Duration::days(back))?;
        (day.month() == month).then_some(day)
    }
}

/// `YYYYMMDDTHHMMSS` (an observance's start is local time).
fn local_time(value: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(value.trim_end_matches(['Z', 'z']), "%Y%m%dT%H%M%S").ok()
}

/// `+HHMM`, `-HHMM` or with seconds, as seconds east of UTC (at most a day).
fn offset(value: &str) -> Option<i32> {
    let (sign, digits) = match value.split_at_checked(1)? {
        ("+", d) => (1, d),
        ("-", d) => (-1, d),
        _ => return None,
    };
    if !matches!(digits.len(), 4 | 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i32>().ok();
    let seconds = part(0..2)? * 3600 + part(2..4)? * 60 + part(4..6).unwrap_or(0);
    (seconds < 24 * 3600).then_some(sign * seconds)
}

/// A yearly rule on a weekday of a month; anything else is not understood.
fn yearly_rule(value: &str) -> Option<YearlyRule> {
    let (mut freq, mut month, mut byday, mut until) = (None, None, None, None);
    for part in value.split(';') {
        let (key, v) = part.split_once('=')?;
        match key.trim().to_ascii_uppercase().as_str() {
            "FREQ" => freq = Some(v.trim().to_ascii_uppercase()),
            "BYMONTH" => {
                month = v
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|m| (1..=12).contains(m))
            }
            "BYDAY" => byday = Some(v.trim().to_ascii_uppercase()),
            "UNTIL" => until = Some(local_time(v.trim())?),
            "INTERVAL" if v.trim() == "1" => {}
            "WKST" => {}
            _ => return None,
        }
    }
    if freq.as_deref() != Some("YEARLY") {
        return None;
    }
    let byday = byday?;
    let split = byday.len().checked_sub(2)?;
    let (week, day) = byday.split_at_checked(split)?;
    let week: i8 = match week {
        "" => 1,
        w => w.trim_start_matches('+').parse().ok()?,
    };
    if week == 0 || week.unsigned_abs() > 5 {
        return None;
    }
    let weekday = match day {
        "MO" => Weekday::Mon,
        "TU" => Weekday::Tue,
        "WE" => Weekday::Wed,
        "TH" => Weekday::Thu,
        "FR" => Weekday::Fri,
        "SA" => Weekday::Sat,
        "SU" => Weekday::Sun,
        _ => return None,
    };
    Some(YearlyRule {
        month: month?,
        week,
        weekday,
        until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        local_time(s).unwrap()
    }

    /// Europe/Paris as Outlook writes it, under its Windows name.
    fn paris() -> Zones {
        let mut zones = Zones::default();
        let mut z = ZoneReader::default();
        z.property("TZID", "Romance Standard Time");
        for (start, from, to, rule) in [
            (
                "16010101T030000",
                "+0200",
                "+0100",
                "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10",
            ),
            (
                "16010101T020000",
                "+0100",
                "+0200",
                "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
            ),
        ] {
            z.begin_observance();
            z.property("DTSTART", start);
            z.property("TZOFFSETFROM", from);
            z.property("TZOFFSETTO", to);
            z.property("RRULE", rule);
            z.end_observance();
        }
        z.finish(&mut zones);
        zones
    }

    #[test]
    fn reads_summer_and_winter_times() {
        let zones = paris();
        let utc = |local: &str| {
            zones
                .to_utc("Romance Standard Time", t(local))
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(utc("20261201T090000"), "2026-12-01T08:00:00+00:00");
        assert_eq!(utc("20260701T090000"), "2026-07-01T07:00:00+00:00");
        // 2026: summer time from Sunday 29 March 02:00, winter from Sunday 25 October 03:00.
        assert_eq!(utc("20260329T013000"), "2026-03-29T00:30:00+00:00");
        assert_eq!(utc("20260329T033000"), "2026-03-29T01:30:00+00:00");
        assert_eq!(utc("20261025T040000"), "2026-10-25T03:00:00+00:00");
        assert_eq!(utc("20260115T120000"), "2026-01-15T11:00:00+00:00");
    }

    #[test]
    fn zones_without_rules_or_description() {
        let mut zones = Zones::default();
        let mut z = ZoneReader::default();
        z.property("TZID", "Asia/Kolkata");
        z.begin_observance();
        z.property("DTSTART", "19700101T000000");
        z.property("TZOFFSETTO", "+0530");
        z.end_observance();
        z.finish(&mut zones);
        let india = zones.to_utc("Asia/Kolkata", t("20261201T090000")).unwrap();
        assert_eq!(india.to_rfc3339(), "2026-12-01T03:30:00+00:00");
        assert!(
            zones
                .to_utc("Europe/Paris", t("20261201T090000"))
                .unwrap_err()
                .contains("no VTIMEZONE")
        );
        let mut broken = ZoneReader::default();
        broken.property("TZID", "Odd");
        broken.begin_observance();
        broken.property("DTSTART", "19700101T000000");
        broken.property("TZOFFSETTO", "+0100");
        broken.property("RRULE", "FREQ=MONTHLY;BYDAY=1SU");
        broken.end_observance();
        broken.finish(&mut zones);
        assert!(
            zones
                .to_utc("Odd", t("20261201T090000"))
                .unwrap_err()
                .contains("RRULE")
        );
    }

    #[test]
    fn weekdays_and_offsets() {
        assert_eq!(
            nth_weekday(2026, 3, -1, Weekday::Sun),
            NaiveDate::from_ymd_opt(2026, 3, 29)
        );
        assert_eq!(
            nth_weekday(2026, 3, 2, Weekday::Sun),
            NaiveDate::from_ymd_opt(2026, 3, 8)
        );
        assert_eq!(
            nth_weekday(2026, 11, 1, Weekday::Sun),
            NaiveDate::from_ymd_opt(2026, 11, 1)
        );
        assert_eq!(
            nth_weekday(2026, 2, 5, Weekday::Mon),
            None,
            "no fifth Monday"
        );
        assert_eq!(
            nth_weekday(262_142, 12, -1, Weekday::Fri),
            None,
            "past chrono's last date"
        );
        assert_eq!(offset("+0530"), Some(19_800));
        assert_eq!(offset("-0330"), Some(-12_600));
        assert_eq!(offset("+013015"), Some(5_415));
        for bad in ["0100", "+1", "+2400", "+01:00", "", "-"] {
            assert_eq!(offset(bad), None, "{bad}");
        }
    }
}
