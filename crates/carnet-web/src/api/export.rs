//! `GET /api/v1/{contacts,activities}/export`: every matching record as a file, streamed.

use crate::AppState;
use crate::auth::ApiContext;
use crate::problem::Problem;
use crate::request::query_pairs;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use carnet_formats::activities::{ActivitiesWriter, ActivityFormat};
use carnet_formats::contacts::{ContactsWriter, Spool};
use carnet_formats::{Format, UnknownFormat};
use carnet_service::Carnet;
use carnet_service::activities::{ActivityExport, ActivityListParams};
use carnet_service::contacts::{ContactPages, ListParams};
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Streams the contacts matching the query (`format`, plus the list filters and sort).
pub(super) async fn contacts(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query.as_deref())?;
    let (format, list_pairs) = export_query(&pairs, Format::Csv, "contact")?;
    let params = ListParams::parse(list_pairs)?;
    let tenant = state.carnet.tenant(ctx.tenant).await?;
    let (layout, pages) = state.carnet.export_contacts(&ctx, params, format).await?;
    let spool = Spool::default();
    let writer = ContactsWriter::new(spool.clone(), format, layout).map_err(not_started)?;
    let rx = stream(state.carnet.clone(), ContactExport { pages, writer }, spool);
    let filename = file_name("contacts", &tenant.slug, format.extension());
    Ok(file_response(rx, format.content_type(), &filename))
}

/// Streams the activities matching the query (`format`, plus the list filters and order).
pub(super) async fn activities(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query.as_deref())?;
    let (format, list_pairs) = export_query(&pairs, ActivityFormat::Ics, "activity")?;
    let params = ActivityListParams::parse(list_pairs)?;
    let tenant = state.carnet.tenant(ctx.tenant).await?;
    let pages = state
        .carnet
        .export_activities(&ctx, params, format.name())
        .await?;
    let spool = Spool::default();
    let writer = ActivitiesWriter::new(spool.clone(), format).map_err(not_started)?;
    let rx = stream(
        state.carnet.clone(),
        ActivityFileExport { pages, writer },
        spool,
    );
    let filename = file_name("activities", &tenant.slug, format.extension());
    Ok(file_response(rx, format.content_type(), &filename))
}

/// Query parameters passed on to a list's parser.
type ListPairs<'q> = Vec<(&'q str, &'q str)>;

/// An export's query: its `format` (`default` when absent) and the list parameters it
/// passes on; `limit` and `cursor` are refused, an export holding every matching `record`.
fn export_query<'q, F>(
    pairs: &'q [(String, String)],
    default: F,
    record: &str,
) -> Result<(F, ListPairs<'q>), Problem>
where
    F: FromStr<Err = UnknownFormat>,
{
    let mut format = default;
    let mut list_pairs = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "format" => {
                format = value
                    .parse()
                    .map_err(|e: UnknownFormat| Problem::bad_request("format", e.to_string()))?
            }
            "limit" | "cursor" => {
                return Err(Problem::bad_request(
                    key,
                    format!("an export holds every matching {record}; it is not paged"),
                ));
            }
            _ => list_pairs.push((key.as_str(), value.as_str())),
        }
    }
    Ok((format, list_pairs))
}

/// The problem of a file writer that could not start (its header could not be written).
fn not_started(e: io::Error) -> Problem {
    tracing::error!(error = %e, "export could not start");
    Problem::internal()
}

/// `{object}-{workspace}-{date}.{extension}`, the name an exported file is saved under.
fn file_name(object: &str, slug: &str, extension: &str) -> String {
    let date = chrono::Utc::now().format("%Y-%m-%d");
    format!("{object}-{slug}-{date}.{extension}")
}

/// An export under way, as [`stream`] drives it.
trait Export: Send + 'static {
    /// Reads the next page of records and writes it; `false` once every record is written.
    fn write_next(&mut self, carnet: &Carnet) -> impl Future<Output = io::Result<bool>> + Send;

    /// Ends the file.
    fn finish(self) -> io::Result<()>;
}

struct ContactExport {
    pages: ContactPages,
    writer: ContactsWriter<Spool>,
}

impl Export for ContactExport {
    async fn write_next(&mut self, carnet: &Carnet) -> io::Result<bool> {
        match self.pages.next(carnet).await {
            Ok(Some(page)) => page
                .iter()
                .try_for_each(|c| self.writer.write(c))
                .map(|()| true),
            Ok(None) => Ok(false),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    fn finish(self) -> io::Result<()> {
        self.writer.finish().map(drop)
    }
}

struct ActivityFileExport {
    pages: ActivityExport,
    writer: ActivitiesWriter<Spool>,
}

impl Export for ActivityFileExport {
    async fn write_next(&mut self, carnet: &Carnet) -> io::Result<bool> {
        match self.pages.next(carnet).await {
            Ok(Some(page)) => page
                .iter()
                .try_for_each(|(a, contact)| self.writer.write(a, contact.as_ref()))
                .map(|()| true),
            Ok(None) => Ok(false),
            Err(e) => Err(io::Error::other(e.to_string())),
        }
    }

    fn finish(self) -> io::Result<()> {
        self.writer.finish().map(drop)
    }
}

/// Runs an export in a task of its own, handing each page's bytes from `spool` to the
/// response body as they are written. A failure midway ends the body with an error: the
/// status line is gone already, and the client must not take a cut file for a whole one.
fn stream(
    carnet: Carnet,
    mut export: impl Export,
    spool: Spool,
) -> mpsc::Receiver<Result<Bytes, io::Error>> {
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(4);
    tokio::spawn(async move {
        loop {
            let chunk = match export.write_next(&carnet).await {
                Ok(true) => Ok(spool.take()),
                Ok(false) => {
                    let done = export.finish().map(|()| spool.take());
                    let _ = tx.send(done.map(Bytes::from)).await;
                    break;
                }
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if let Err(e) = &chunk {
                tracing::error!(error = %e, "export failed midway");
            }
            if tx.send(chunk.map(Bytes::from)).await.is_err() || failed {
                break; // the client went away, or the export failed
            }
        }
    });
    rx
}

/// A streamed file download: its type, its name, never cached.
fn file_response(
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    content_type: &'static str,
    filename: &str,
) -> Response {
    let mut res = Body::new(ChannelBody(rx)).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A response body fed by the export task.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(http_body::Frame::data)))
    }
}
