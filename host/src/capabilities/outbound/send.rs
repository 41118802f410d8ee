//! One outbound request, once the hook has admitted it: the guest's body read whole
//! (bounded), sent on the shared client within the first-byte timeout, and the answer's
//! body relayed (see [`super::body`]). Errors become wasi:http error codes the guest sees;
//! the log gets one line per request, at debug level for an answer and info for a failure:
//! destination (never the path, query or headers, which may carry keys), status or failure,
//! milliseconds.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::{Error, WasiBody};

use super::address::Prohibited;
use super::allowlist::Destination;
use super::body::{BodyBounds, RelayedBody};
use super::config::MAX_REQUEST_BYTES;

/// A request the hook admitted, with its bounds.
pub struct Admitted {
    /// The guest's request.
    pub request: http::Request<WasiBody>,
    /// Where it goes, for the log.
    pub destination: Destination,
    /// Time to get the response's headers.
    pub first_byte: Duration,
    /// How its body is bounded.
    pub body: BodyBounds,
    /// Its place among the response's open requests.
    pub permit: OwnedSemaphorePermit,
}

/// Send `admitted` with `client`.
pub async fn send(client: reqwest::Client, admitted: Admitted) -> Result<http::Response<WasiBody>, Error> {
    let Admitted { request, destination, first_byte, body, permit } = admitted;
    let started = Instant::now();
    let result = async {
        let request = read_body(request).await?;
        let response = tokio::time::timeout(first_byte, client.execute(request))
            .await
            .map_err(|_| Error::HttpResponseTimeout)?
            .map_err(|e| send_error(&e))?;
        Ok::<_, Error>(http::Response::<reqwest::Body>::from(response))
    }
    .await;
    let ms = || format!("{:.1}", started.elapsed().as_secs_f64() * 1e3);
    match result {
        Ok(response) => {
            tracing::debug!(destination = %destination, status = response.status().as_u16(), ms = ms(), "outbound request");
            let (parts, upstream) = response.into_parts();
            let relayed = RelayedBody::spawn(upstream, body, permit);
            Ok(http::Response::from_parts(parts, relayed.boxed_unsync()))
        }
        Err(error) => {
            tracing::info!(destination = %destination, error = %error, ms = ms(), "outbound request failed");
            Err(error)
        }
    }
}

/// The guest's request with its body read whole, as the client sends it.
async fn read_body(request: http::Request<WasiBody>) -> Result<reqwest::Request, Error> {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = Limited::new(body, MAX_REQUEST_BYTES as usize)
        .collect()
        .await
        .map_err(|e| match e.downcast::<Error>() {
            Ok(e) => *e,
            Err(_) => Error::HttpRequestBodySize(None),
        })?
        .to_bytes();
    reqwest::Request::try_from(http::Request::from_parts(parts, bytes))
        .map_err(|e| Error::InternalError(Some(format!("unsendable request: {e}"))))
}

/// The wasi:http error code for a failure to get a response.
fn send_error(e: &reqwest::Error) -> Error {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<Prohibited>() {
            return Error::DestinationIpProhibited;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
                std::io::ErrorKind::TimedOut => Error::ConnectionTimeout,
                _ => Error::ConnectionTerminated,
            };
        }
        source = s.source();
    }
    if e.is_timeout() {
        Error::ConnectionTimeout
    } else if e.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    }
}
