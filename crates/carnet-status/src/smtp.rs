//! Sending e-mail: a small SMTP client (RFC 5321) for a relay on loopback or a private
//! network (no TLS or authentication yet), and the messages it sends.

use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Where mail goes out.
#[derive(Debug, Clone)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    /// The sender address (`status@example.com`).
    pub from: String,
}

/// A message to send: plain text in UTF-8, with extra headers.
#[derive(Debug, Clone)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// A header value in RFC 2047 form when it is not plain ASCII.
fn encode_header(value: &str) -> String {
    if value.is_ascii() {
        value.to_owned()
    } else {
        use base64::Engine;
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// The message as SMTP's DATA carries it: headers, blank line, body with CRLF line ends and
/// lines that start with a dot doubled.
fn data(relay: &Relay, m: &Message, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}@carnet-status>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
        relay.from,
        m.to,
        encode_header(&m.subject),
        now.to_rfc2822(),
        uuid::Uuid::now_v7().simple()
    );
    for (name, value) in &m.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    for line in m.body.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// An address safe to put in an SMTP command: no spaces, brackets or line breaks.
fn address(raw: &str) -> Result<&str, String> {
    let ok = raw.contains('@')
        && raw.len() <= 254
        && !raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>".contains(c));
    if ok {
        Ok(raw)
    } else {
        Err(format!("`{raw}` is not an e-mail address"))
    }
}

/// Sends one message; any answer outside 2xx/3xx is an error naming the step.
pub async fn send(relay: &Relay, m: &Message) -> Result<(), String> {
    let attempt = async {
        let stream = TcpStream::connect((relay.host.as_str(), relay.port))
            .await
            .map_err(|e| format!("cannot reach the SMTP relay: {e}"))?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        expect(&mut lines, "greeting", 220).await?;
        let steps = [
            ("EHLO carnet-status".to_owned(), 250),
            (format!("MAIL FROM:<{}>", address(&relay.from)?), 250),
            (format!("RCPT TO:<{}>", address(&m.to)?), 250),
            ("DATA".to_owned(), 354),
        ];
        for (command, code) in steps {
            write
                .write_all(format!("{command}\r\n").as_bytes())
                .await
                .map_err(|e| format!("SMTP {command}: {e}"))?;
            expect(&mut lines, &command, code).await?;
        }
        write
            .write_all(format!("{}.\r\n", data(relay, m, chrono::Utc::now())).as_bytes())
            .await
            .map_err(|e| format!("SMTP message: {e}"))?;
        expect(&mut lines, "end of message", 250).await?;
        // The message is accepted; QUIT only closes politely.
        let _ = write.write_all(b"QUIT\r\n").await;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), attempt)
        .await
        .map_err(|_| "the SMTP relay did not answer in time".to_owned())?
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(
    lines: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    step: &str,
    code: u16,
) -> Result<(), String> {
    loop {
        let mut line = String::new();
        if lines
            .read_line(&mut line)
            .await
            .map_err(|e| format!("SMTP {step}: {e}"))?
            == 0
        {
            return Err(format!("SMTP {step}: the relay closed the connection"));
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if got != code {
            return Err(format!("SMTP {step}: {}", line.trim_end()));
        }
        // "250-…" continues, "250 …" ends the reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_encoded_for_smtp() {
        let relay = Relay {
            host: "localhost".into(),
            port: 25,
            from: "status@carnet.test".into(),
        };
        let m = Message {
            to: "lea@example.test".into(),
            subject: "Panne résolue".into(),
            body: "ligne 1\n.point\nfin".into(),
            headers: vec![(
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            )],
        };
        let text = data(&relay, &m, chrono::Utc::now());
        assert!(
            text.contains("Subject: =?UTF-8?B?UGFubmUgcsOpc29sdWU=?=\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\n..point\r\n"), "dot-stuffed: {text}");
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(address("a b@x").is_err() && address("a@x>").is_err() && address("a@x").is_ok());
    }
}
