//! `GET /api/v1/{contacts,activities}/export`: every matching record as a file, streamed.

use crate::AppState;
use crate::auth::ApiContext;
use crate::problem::Problem;
use crate::request::query_pairs;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use carnet_formats::Format;
use carnet_formats::activities::{ActivitiesWriter, ActivityFormat};
use carnet_formats::contacts::{ContactsWriter, Spool};
use carnet_service::activities::ActivityListParams;
use carnet_service::contacts::ListParams;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Streams the contacts matching the query (`format`, plus the list filters and sort).
pub(super) async fn contacts(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query.as_deref())?;
    let mut format = Format::Csv;
    let mut list_pairs = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "format" => {
                format = value.parse().map_err(|e: carnet_formats::UnknownFormat| {
                    Problem::bad_request("format", e.to_string())
                })?
            }
            "limit" | "cursor" => {
                return Err(Problem::bad_request(
                    key,
                    "an export holds every matching contact; it is not paged",
                ));
            }
            _ => list_pairs.push((key.as_str(), value.as_str())),
        }
    }
    let params = ListParams::parse(list_pairs)?;
    let tenant = state.carnet.tenant(ctx.tenant).await?;
    let (layout, mut pages) = state.carnet.export_contacts(&ctx, params, format).await?;
    let spool = Spool::default();
    let mut writer = ContactsWriter::new(spool.clone(), format, layout).map_err(|e| {
        tracing::error!(error = %e, "export could not start");
        Problem::internal()
    })?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let carnet = state.carnet.clone();
    tokio::spawn(async move {
        loop {
            let chunk = match pages.next(&carnet).await {
                Ok(Some(page)) => page
                    .iter()
                    .try_for_each(|c| writer.write(c))
                    .map(|()| spool.take()),
                Ok(None) => {
                    let done = writer.finish().map(|_| spool.take());
                    let _ = tx.send(done.map(Bytes::from)).await;
                    break;
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = chunk.is_err();
            if let Err(e) = &chunk {
                // The status line is gone already: ending the body with an error tells the
                // client that the file is incomplete.
                tracing::error!(error = %e, "export failed midway");
            }
            if tx.send(chunk.map(Bytes::from)).await.is_err() || failed {
                break; // the client went away, or the export failed
            }
        }
    });
    let filename = format!(
        "contacts-{}-{}.{}",
        tenant.slug,
        chrono::Utc::now().format("%Y-%m-%d"),
        format.extension()
    );
    Ok(file_response(rx, format.content_type(), &filename))
}

/// Streams the activities matching the query (`format`, plus the list filters and order).
pub(super) async fn activities(
    State(state): State<AppState>,
    ApiContext(ctx): ApiContext,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let pairs = query_pairs(query.as_deref())?;
    let mut format = ActivityFormat::Ics;
    let mut list_pairs = Vec::new();
    for (key, value) in &pairs {
        match key.as_str() {
            "format" => {
                format = value.parse().map_err(|e: carnet_formats::UnknownFormat| {
                    Problem::bad_request("format", e.to_string())
                })?
            }
            "limit" | "cursor" => {
                return Err(Problem::bad_request(
                    key,
                    "an export holds every matching activity; it is not paged",
                ));
            }
            _ => list_pairs.push((key.as_str(), value.as_str())),
        }
    }
    let params = ActivityListParams::parse(list_pairs)?;
    let tenant = state.carnet.tenant(ctx.tenant).await?;
    let mut pages = state
        .carnet
        .export_activities(&ctx, params, format.name())
        .await?;
    let spool = Spool::default();
    let mut writer =
        ActivitiesWriter::new(spool.clone(), format).map_err(|_| Problem::internal())?;
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let carnet = state.carnet.clone();
    tokio::spawn(async move {
        loop {
            let chunk = match pages.next(&carnet).await {
                Ok(Some(page)) => page
                    .iter()
                    .try_for_each(|(a, contact)| writer.write(a, contact.as_ref()))
                    .map(|()| spool.take()),
                Ok(None) => {
                    let done = writer.finish().map(|_| spool.take());
                    let _ = tx.send(done.map(Bytes::from)).await;
                    break;
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let failed = chunk.is_err();
            if let Err(e) = &chunk {
                tracing::error!(error = %e, "export failed midway");
            }
            if tx.send(chunk.map(Bytes::from)).await.is_err() || failed {
                break;
            }
        }
    });
    let filename = format!(
        "activities-{}-{}.{}",
        tenant.slug,
        chrono::Utc::now().format("%Y-%m-%d"),
        format.extension()
    );
    Ok(file_response(rx, format.content_type(), &filename))
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
