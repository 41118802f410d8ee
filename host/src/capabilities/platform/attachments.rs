//! `post-message-attachment`: fastapi_poe's `post_message_attachment` and `upload_file`.
//!
//! The upload is `POST {upload base}file_upload_3RD_PARTY_POST` with the bot's key as a
//! raw `Authorization` header (no `Bearer`): a URL as a form field `download_url` (and
//! `download_filename` when named), bytes as one multipart part `file` whose content type
//! is guessed from the name (httpx's rule). Only a 200 with `attachment_url` and
//! `mime_type` succeeds; two tries, 0.5 s apart, 120 s each. The `file` event goes into the
//! answer at once, so it precedes the bot's next part, as fastapi_poe's pending file events
//! do.

use std::time::Duration;

use reqwest::multipart::{Form, Part};

use super::{PlatformCtxView, QueryState};
use crate::guest::bindings::poe::bot::attachments::{Host, Upload, UploadError, UploadSource};
use crate::guest::bindings::types::{FileAttachment, PartialResponse};
use crate::logtext;

/// Files one answer may carry (Poe's limit).
pub const MAX_FILES: u32 = 20;
/// Largest file (Poe's limit).
pub const MAX_FILE_BYTES: usize = 50_000_000;
/// fastapi_poe's tries and the pause between them.
const TRIES: u32 = 2;
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// fastapi_poe's upload timeout.
const TIMEOUT: Duration = Duration::from_secs(120);
/// Bytes of Poe's answer read (and of an error shown).
const MAX_ANSWER: usize = 64 << 10;

/// What one upload sends.
struct Request {
    client: reqwest::Client,
    url: String,
    key: String,
    source: UploadSource,
    filename: Option<String>,
}

impl Host for PlatformCtxView<'_> {
    async fn post_message_attachment(
        &mut self,
        upload: Upload,
    ) -> wasmtime::Result<Result<FileAttachment, UploadError>> {
        let name = file_name(&upload);
        let is_inline = upload.is_inline;
        let (request, runtime) = match self.ctx.query.as_mut().map(|q| prepare(q, upload)) {
            Some(Ok(prepared)) => prepared,
            Some(Err(error)) => return Ok(Err(error)),
            None => {
                return Ok(Err(UploadError::Invalid(
                    "files can be attached only to a query's answer".into(),
                )));
            }
        };
        let started = std::time::Instant::now();
        let sent = runtime.spawn(tracing::Instrument::in_current_span(send_with_retry(request)));
        let sent = wasmtime_wasi::runtime::AbortOnDropJoinHandle::from(sent).await;
        let ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1e3);
        let (url, content_type) = match sent {
            Ok(answer) => answer,
            Err(why) => {
                tracing::info!(ms, "attachment upload failed: {why}");
                return Ok(Err(UploadError::Failed(why)));
            }
        };
        tracing::info!(ms, "attachment uploaded");
        let inline_ref = is_inline.then(inline_ref);
        let file = FileAttachment { url, content_type, name, inline_ref };
        if let Some(output) = self.output.as_deref_mut() {
            // A client that has gone is the bot's next emit's concern, as for any part.
            let _ = output.emit(PartialResponse::File(file.clone())).await;
        }
        Ok(Ok(file))
    }
}

/// Check `upload` against the bounds and count it; the request and where to run it.
fn prepare(state: &mut QueryState, upload: Upload) -> Result<(Request, tokio::runtime::Handle), UploadError> {
    let key = state.key.as_ref().ok_or(UploadError::NoAccessKey)?.secret().to_owned();
    match &upload.source {
        UploadSource::Bytes(_) if upload.filename.as_deref().is_none_or(str::is_empty) => {
            return Err(UploadError::Invalid("a file given as bytes needs a filename".into()));
        }
        UploadSource::Bytes(bytes) if bytes.len() > MAX_FILE_BYTES => {
            return Err(UploadError::LimitReached(format!("a file may have at most {MAX_FILE_BYTES} bytes")));
        }
        UploadSource::Url(url) if url.is_empty() => {
            return Err(UploadError::Invalid("the URL is empty".into()));
        }
        _ => {}
    }
    if state.files >= MAX_FILES {
        return Err(UploadError::LimitReached(format!("an answer may carry {MAX_FILES} files")));
    }
    state.files += 1;
    let (client, url) = (state.config.api.client().clone(), state.config.upload_url.clone());
    Ok((
        Request { client, url, key, source: upload.source, filename: upload.filename },
        state.runtime.clone(),
    ))
}

/// The `file` event's name: the filename, else the URL's last path segment decoded, else
/// `downloaded_file` (fastapi_poe's `get_filename_from_url`).
fn file_name(upload: &Upload) -> String {
    if let Some(name) = upload.filename.as_deref().filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    let UploadSource::Url(url) = &upload.source else { return "downloaded_file".into() };
    let path = reqwest::Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_default();
    let last = path.rsplit('/').next().unwrap_or("");
    let name = percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned();
    if name.is_empty() { "downloaded_file".into() } else { name }
}

/// Eight random `[A-Za-z0-9]` characters (fastapi_poe's `generate_inline_ref`).
fn inline_ref() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..8).map(|_| CHARS[fastrand::usize(..CHARS.len())] as char).collect()
}

async fn send_with_retry(request: Request) -> Result<(String, String), String> {
    let mut last = String::new();
    for attempt in 1..=TRIES {
        match tokio::time::timeout(TIMEOUT, send(&request)).await {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(why)) => last = why,
            Err(_) => last = format!("no answer within {} s", TIMEOUT.as_secs()),
        }
        tracing::info!("attachment upload try {attempt}/{TRIES} failed: {last}");
        if attempt < TRIES {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    Err(last)
}

async fn send(request: &Request) -> Result<(String, String), String> {
    let mut key = reqwest::header::HeaderValue::from_str(&request.key)
        .map_err(|_| "the access key is not a header value")?;
    key.set_sensitive(true);
    let post = request.client.post(&request.url).header(reqwest::header::AUTHORIZATION, key);
    let post = match &request.source {
        UploadSource::Url(url) => {
            let mut fields = vec![("download_url", url.as_str())];
            fields.extend(request.filename.as_deref().map(|n| ("download_filename", n)));
            post.form(&fields)
        }
        UploadSource::Bytes(bytes) => {
            let name = request.filename.clone().unwrap_or_default();
            let mime = mime_guess::from_path(&name).first_or_octet_stream();
            let part = Part::bytes(bytes.clone())
                .file_name(name)
                .mime_str(mime.as_ref())
                .map_err(|e| e.to_string())?;
            post.multipart(Form::new().part("file", part))
        }
    };
    let response = post.send().await.map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let body = read_bounded(response).await?;
    if status != reqwest::StatusCode::OK {
        let text = logtext::escape_line(&String::from_utf8_lossy(&body), 500);
        return Err(format!("{} {}: {text}", status.as_u16(), status.canonical_reason().unwrap_or("")));
    }
    let answer: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| "Poe's answer is not JSON".to_owned())?;
    match (answer["attachment_url"].as_str(), answer["mime_type"].as_str()) {
        (Some(url), Some(mime)) => Ok((url.to_owned(), mime.to_owned())),
        _ => Err("Poe's answer lacks attachment_url or mime_type".into()),
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the answer: {e}"))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err("Poe's answer is too large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(source: UploadSource, filename: Option<&str>) -> Upload {
        Upload { source, filename: filename.map(str::to_owned), is_inline: false }
    }

    #[test]
    fn names_follow_fastapi_poe() {
        let url = |u: &str| UploadSource::Url(u.into());
        assert_eq!(file_name(&upload(url("https://x.test/a/b%20c.png?x=1"), None)), "b c.png");
        assert_eq!(file_name(&upload(url("https://x.test/"), None)), "downloaded_file");
        assert_eq!(file_name(&upload(url("https://x.test/a.png"), Some("mine.png"))), "mine.png");
        assert_eq!(file_name(&upload(UploadSource::Bytes(vec![1]), Some("f.bin"))), "f.bin");
        let r = inline_ref();
        assert!(r.len() == 8 && r.bytes().all(|b| b.is_ascii_alphanumeric()), "{r}");
    }
}
