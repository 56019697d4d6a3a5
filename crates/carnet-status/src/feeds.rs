//! Atom and RSS feeds of the incident history, for readers and chat integrations.

use crate::model::Incident;
use chrono::{DateTime, Utc};

/// Text made safe inside XML elements and attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// An incident's updates as one text, newest first.
fn summary(i: &Incident) -> String {
    i.updates
        .iter()
        .map(|u| {
            format!(
                "{} — {}: {}",
                u.created_at.format("%Y-%m-%d %H:%M UTC"),
                u.status,
                u.body
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The Atom feed (RFC 4287); `base` is the page's absolute URL, without a trailing slash.
pub fn atom(title: &str, base: &str, incidents: &[Incident], now: DateTime<Utc>) -> String {
    let updated = incidents.iter().map(|i| i.updated_at).max().unwrap_or(now);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>{base}/history.atom</id>\n<title>{} status: incident history</title>\n\
         <updated>{}</updated>\n<link rel=\"self\" href=\"{base}/history.atom\"/>\n\
         <link rel=\"alternate\" href=\"{base}/\"/>\n<author><name>{}</name></author>\n",
        escape(title),
        updated.to_rfc3339(),
        escape(title),
        base = escape(base),
    );
    for i in incidents {
        out.push_str(&format!(
            "<entry>\n<id>{base}/#incident-{id}</id>\n<title>{}</title>\n<published>{}</published>\n\
             <updated>{}</updated>\n<link rel=\"alternate\" href=\"{base}/#incident-{id}\"/>\n\
             <content type=\"text\">{}</content>\n</entry>\n",
            escape(&i.name),
            i.created_at.to_rfc3339(),
            i.updated_at.to_rfc3339(),
            escape(&summary(i)),
            base = escape(base),
            id = escape(&i.id),
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// The RSS 2.0 feed.
pub fn rss(title: &str, base: &str, incidents: &[Incident]) -> String {
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\">\n<channel>\n\
         <title>{} status: incident history</title>\n<link>{base}/</link>\n\
         <description>Incidents and their updates</description>\n",
        escape(title),
        base = escape(base),
    );
    for i in incidents {
        out.push_str(&format!(
            "<item>\n<title>{}</title>\n<link>{base}/#incident-{id}</link>\n\
             <guid isPermaLink=\"false\">{id}</guid>\n<pubDate>{}</pubDate>\n\
             <description>{}</description>\n</item>\n",
            escape(&i.name),
            i.created_at.to_rfc2822(),
            escape(&summary(i)),
            base = escape(base),
            id = escape(&i.id),
        ));
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Impact, IncidentStatus, IncidentUpdate};

    #[test]
    fn feeds_escape_what_people_type() {
        let at = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let incident = Incident {
            id: "i1".into(),
            name: "API <down> & \"slow\"".into(),
            status: IncidentStatus::Resolved,
            impact: Impact::Major,
            automatic: false,
            created_at: at,
            updated_at: at,
            resolved_at: Some(at),
            updates: vec![IncidentUpdate {
                id: "u1".into(),
                status: "resolved".into(),
                body: "Réparé\u{1}".into(),
                created_at: at,
            }],
            components: vec![],
        };
        let atom = atom(
            "Carnet",
            "http://status.test",
            std::slice::from_ref(&incident),
            at,
        );
        assert!(atom.contains("<title>API &lt;down&gt; &amp; &quot;slow&quot;</title>"));
        assert!(atom.contains("<id>http://status.test/#incident-i1</id>"));
        assert!(
            atom.contains("resolved: Réparé</content>"),
            "control characters dropped: {atom}"
        );
        let rss = rss("Carnet", "http://status.test", &[incident]);
        assert!(
            rss.contains("<pubDate>Thu, 26 Nov 2026 10:00:00 +0000</pubDate>"),
            "{rss}"
        );
    }
}
