//! Service levels: monthly availability per component from the probes' results, maintenance
//! announced long enough ahead left out, service credits by tier; and business-hours time
//! for support-response targets.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

/// Maintenance announced at least this long before it starts does not count as downtime.
pub const NOTICE: Duration = Duration::days(5);

/// One probe result: when, and whether the check passed.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub ok: bool,
}

/// A maintenance window and when it was announced.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub starts: DateTime<Utc>,
    pub ends: DateTime<Utc>,
    pub announced: DateTime<Utc>,
}

/// Credit tiers: below `percent` availability, `credit` percent of the month's fee.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tier {
    pub percent: f64,
    pub credit: u32,
}

/// The default tiers: below 99.9 % → 10 %, below 99 % → 25 %, below 95 % → 50 %.
pub const DEFAULT_TIERS: [Tier; 3] = [
    Tier {
        percent: 99.9,
        credit: 10,
    },
    Tier {
        percent: 99.0,
        credit: 25,
    },
    Tier {
        percent: 95.0,
        credit: 50,
    },
];

/// One component's month.
#[derive(Debug, Clone, PartialEq)]
pub struct Availability {
    /// Availability over the measured time, in percent.
    pub percent: f64,
    /// Seconds the checks failed (announced maintenance left out).
    pub down_seconds: i64,
    /// Seconds of announced maintenance, left out of the measure.
    pub excluded_seconds: i64,
    /// Seconds without any check (the probe itself was not running): not counted either way.
    pub unmeasured_seconds: i64,
    /// The service credit due, in percent of the month's fee.
    pub credit: u32,
}

/// The first instant of `month` (1–12) of `year`, and of the month after.
pub fn month_bounds(year: i32, month: u32) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let start = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    Some((
        Utc.from_utc_datetime(&start.and_hms_opt(0, 0, 0)?),
        Utc.from_utc_datetime(&next.and_hms_opt(0, 0, 0)?),
    ))
}

/// Seconds of `[a, b)` inside `[from, to)`.
fn overlap(a: DateTime<Utc>, b: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (b.min(to) - a.max(from)).num_seconds().max(0)
}

/// The availability of one component over `[from, to)`. Each sample stands for the time
/// until the next one, at most `interval` (a longer gap is unmeasured); failed time inside a
/// window announced at least [`NOTICE`] ahead is excluded.
pub fn availability(
    samples: &[Sample],
    interval: Duration,
    windows: &[Window],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tiers: &[Tier],
) -> Availability {
    let mut sorted: Vec<Sample> = samples.to_vec();
    sorted.sort_by_key(|s| s.at);
    let announced: Vec<&Window> = windows
        .iter()
        .filter(|w| w.starts - w.announced >= NOTICE)
        .collect();
    let excluded_in = |a: DateTime<Utc>, b: DateTime<Utc>| -> i64 {
        // Windows may overlap each other: count each second once.
        let mut cuts: Vec<(DateTime<Utc>, DateTime<Utc>)> = announced
            .iter()
            .map(|w| (w.starts.max(a), w.ends.min(b)))
            .filter(|(s, e)| s < e)
            .collect();
        cuts.sort();
        let (mut total, mut reach) = (0, a);
        for (s, e) in cuts {
            let s = s.max(reach);
            if e > s {
                total += (e - s).num_seconds();
                reach = e;
            }
        }
        total
    };
    let (mut measured, mut down) = (0i64, 0i64);
    for (i, s) in sorted.iter().enumerate() {
        let until = sorted
            .get(i + 1)
            .map_or(s.at + interval, |next| next.at.min(s.at + interval));
        let (a, b) = (s.at.max(from), until.min(to));
        if a >= b {
            continue;
        }
        let span = (b - a).num_seconds();
        let excluded = excluded_in(a, b);
        measured += span - excluded;
        if !s.ok {
            down += span - excluded;
        }
    }
    let excluded_seconds = announced
        .iter()
        .map(|w| overlap(w.starts, w.ends, from, to))
        .sum::<i64>()
        .min((to - from).num_seconds());
    let unmeasured_seconds = ((to - from).num_seconds() - measured - excluded_seconds).max(0);
    let percent = if measured == 0 {
        100.0
    } else {
        100.0 * (measured - down) as f64 / measured as f64
    };
    let credit = tiers
        .iter()
        .filter(|t| percent < t.percent)
        .map(|t| t.credit)
        .max()
        .unwrap_or(0);
    Availability {
        percent,
        down_seconds: down,
        excluded_seconds,
        unmeasured_seconds,
        credit,
    }
}

/// Working hours: the days and the hours (in UTC offset `offset_minutes`) support works.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    pub days: Vec<Weekday>,
    pub start_hour: u32,
    pub end_hour: u32,
    pub offset_minutes: i32,
}

impl Default for BusinessHours {
    /// Monday to Friday, 9:00 to 18:00 in UTC+1 (Paris in winter).
    fn default() -> Self {
        BusinessHours {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start_hour: 9,
            end_hour: 18,
            offset_minutes: 60,
        }
    }
}

impl BusinessHours {
    /// Business time between two instants: what a support-response target counts.
    pub fn between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from || self.start_hour >= self.end_hour {
            return Duration::zero();
        }
        let offset = Duration::minutes(i64::from(self.offset_minutes));
        let (local_from, local_to) = (from + offset, to + offset);
        let mut total = Duration::zero();
        let mut day = local_from.date_naive();
        while day <= local_to.date_naive() {
            if self.days.contains(&day.weekday())
                && let Some(midnight) = day.and_hms_opt(0, 0, 0)
            {
                let midnight = Utc.from_utc_datetime(&midnight);
                let open = midnight + Duration::hours(i64::from(self.start_hour));
                let close = midnight + Duration::hours(i64::from(self.end_hour.min(24)));
                total += Duration::seconds(overlap(open, close, local_from, local_to));
            }
            match day.succ_opt() {
                Some(next) => day = next,
                None => break,
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// One sample a minute over [from, to), failing in the given spans.
    fn minutes(from: &str, to: &str, down: &[(&str, &str)]) -> Vec<Sample> {
        let (mut at, end) = (t(from), t(to));
        let mut out = Vec::new();
        while at < end {
            let failing = down.iter().any(|(a, b)| at >= t(a) && at < t(b));
            out.push(Sample { at, ok: !failing });
            at += Duration::minutes(1);
        }
        out
    }

    #[test]
    fn a_month_with_an_outage_earns_its_credit() {
        let (from, to) = month_bounds(2026, 2).unwrap();
        assert_eq!((to - from).num_days(), 28);
        // 1 hour down in February (40,320 minutes): 99.85 %, below 99.9 → 10 %.
        let samples = minutes(
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            &[("2026-02-10T10:00:00Z", "2026-02-10T11:00:00Z")],
        );
        let a = availability(
            &samples,
            Duration::minutes(1),
            &[],
            from,
            to,
            &DEFAULT_TIERS,
        );
        assert_eq!(a.down_seconds, 3600);
        assert!((a.percent - 99.8512).abs() < 0.001, "{}", a.percent);
        assert_eq!(a.credit, 10);
        assert_eq!(a.unmeasured_seconds, 0);
        // 15 hours down: 97.77 %, below 99 → 25 %.
        let samples = minutes(
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
            &[("2026-02-10T00:00:00Z", "2026-02-10T15:00:00Z")],
        );
        let a = availability(
            &samples,
            Duration::minutes(1),
            &[],
            from,
            to,
            &DEFAULT_TIERS,
        );
        assert_eq!(a.credit, 25);
    }

    #[test]
    fn only_maintenance_announced_five_days_ahead_is_left_out() {
        let (from, to) = month_bounds(2026, 2).unwrap();
        let down = [("2026-02-10T10:00:00Z", "2026-02-10T12:00:00Z")];
        let samples = minutes("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", &down);
        let window = |announced: &str| Window {
            starts: t("2026-02-10T10:00:00Z"),
            ends: t("2026-02-10T12:00:00Z"),
            announced: t(announced),
        };
        let early = availability(
            &samples,
            Duration::minutes(1),
            &[window("2026-02-05T10:00:00Z")],
            from,
            to,
            &DEFAULT_TIERS,
        );
        assert_eq!((early.down_seconds, early.excluded_seconds), (0, 7200));
        assert_eq!(early.credit, 0);
        let late = availability(
            &samples,
            Duration::minutes(1),
            &[window("2026-02-05T10:00:01Z")],
            from,
            to,
            &DEFAULT_TIERS,
        );
        assert_eq!(
            (late.down_seconds, late.excluded_seconds),
            (7200, 0),
            "announced too late"
        );
        assert_eq!(late.credit, 10);
    }

    #[test]
    fn month_boundaries_split_an_outage() {
        // Down from 23:00 on 31 January to 01:00 on 1 February: one hour in each month.
        let samples = minutes(
            "2026-01-31T22:00:00Z",
            "2026-02-01T02:00:00Z",
            &[("2026-01-31T23:00:00Z", "2026-02-01T01:00:00Z")],
        );
        for month in [1, 2] {
            let (from, to) = month_bounds(2026, month).unwrap();
            let a = availability(
                &samples,
                Duration::minutes(1),
                &[],
                from,
                to,
                &DEFAULT_TIERS,
            );
            assert_eq!(a.down_seconds, 3600, "month {month}");
            assert!(
                a.unmeasured_seconds > 0,
                "the rest of the month had no checks"
            );
        }
        let (from, to) = month_bounds(2026, 12).unwrap();
        assert_eq!(to, t("2027-01-01T00:00:00Z"));
        assert_eq!(from, t("2026-12-01T00:00:00Z"));
        assert!(month_bounds(2026, 13).is_none());
    }

    #[test]
    fn business_hours_skip_nights_and_weekends() {
        let hours = BusinessHours::default();
        // Friday 17:00 Paris (16:00 UTC) to Monday 10:00 Paris (09:00 UTC): 1 h + 1 h.
        let d = hours.between(t("2026-11-27T16:00:00Z"), t("2026-11-30T09:00:00Z"));
        assert_eq!(d, Duration::hours(2));
        assert_eq!(
            hours.between(t("2026-11-28T10:00:00Z"), t("2026-11-28T12:00:00Z")),
            Duration::zero()
        );
    }
}
