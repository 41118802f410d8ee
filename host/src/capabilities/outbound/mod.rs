//! `wasi:http/outgoing-handler`: a bot's outbound HTTP, exactly as far as its operator
//! grants it.
//!
//! wasmtime-wasi-http implements the interface; every request it builds passes through
//! [`OutboundHooks::send_request`] before any I/O, the one choke point. There the request
//! is refused unless its destination is on the bot's `allowed_outbound_hosts`, unless its
//! address is internal and not itself listed (see [`address`]), and past the response's
//! request and concurrency bounds; each refusal is the wasi:http error code the guest sees
//! plus one log line (bot, destination, never headers). An admitted request runs on the
//! host's runtime (the guest's call may be on the CPU lane, which has no I/O driver) with
//! the shared client, and its task is aborted when the guest drops the future or the call
//! ends, so a client that disconnects cancels its bot's requests.

pub mod address; // the SSRF guard: internal addresses, the guarded resolver
pub mod allowlist; // allowed_outbound_hosts: Spin's syntax, matching
pub mod body; // response bodies relayed chunk by chunk, bounded
pub mod client; // the shared client
pub mod config; // defaults, sidecar [outbound_http]
pub mod send; // one admitted request

use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::component::Linker;
use wasmtime_wasi::runtime::AbortOnDropJoinHandle;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView};

use self::address::is_internal;
use self::allowlist::{Destination, Grant, default_port};
use self::body::BodyBounds;
use self::config::OutboundConfig;
use self::send::{Admitted, send};

/// Register `wasi:http` (outgoing-handler and types) for stores whose data gives this
/// capability its view.
pub fn add_to_linker<T: WasiHttpView + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker).map_err(anyhow::Error::from)
}

/// One call's policy and counters.
pub struct OutboundHooks {
    bot: Arc<str>,
    config: Arc<OutboundConfig>,
    /// The host's runtime, where requests run.
    runtime: tokio::runtime::Handle,
    /// Requests made so far.
    requests: u32,
    /// Requests open at once; made at the first request.
    open: Option<Arc<Semaphore>>,
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (http::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>),
                Error,
            >,
        > + Send,
>;

impl OutboundHooks {
    /// The policy of one call of `bot`; made on the host's runtime, where requests will run.
    pub fn new(bot: Arc<str>, config: Arc<OutboundConfig>) -> Self {
        let runtime = tokio::runtime::Handle::current();
        Self { bot, config, runtime, requests: 0, open: None }
    }

    /// Check `request` against the policy and the bounds; the bounded request, or the
    /// error code the guest gets.
    fn admit(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Admitted, Error> {
        let destination = destination(request.uri()).ok_or(Error::HttpRequestUriInvalid)?;
        let grant = self.config.allow.grant(&destination);
        if grant == Grant::Denied {
            tracing::warn!(bot = %self.bot, destination = %destination,
                "outbound request denied: not in allowed_outbound_hosts");
            return Err(Error::HttpRequestDenied);
        }
        if destination.ip().is_some_and(is_internal) && grant != Grant::AddressListed {
            tracing::warn!(bot = %self.bot, destination = %destination,
                "outbound request denied: an internal address is reachable only when listed as itself");
            return Err(Error::DestinationIpProhibited);
        }
        let limits = &self.config.limits;
        if self.requests >= limits.max_requests {
            tracing::warn!(bot = %self.bot, max = limits.max_requests,
                "outbound request denied: too many for one response (outbound_http.max_requests)");
            return Err(Error::ConnectionLimitReached);
        }
        let open = self.open.get_or_insert_with(|| Arc::new(Semaphore::new(limits.max_concurrent as usize)));
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::warn!(bot = %self.bot, max = limits.max_concurrent,
                "outbound request denied: too many open at once (outbound_http.max_concurrent)");
            return Err(Error::ConnectionLimitReached);
        };
        self.requests += 1;
        let options = options.unwrap_or_default();
        // The guest may shorten a timeout, never lengthen one.
        let shorter = |asked: Option<std::time::Duration>, bound| asked.map_or(bound, |a| a.min(bound));
        let first_byte = shorter(options.first_byte_timeout, limits.first_byte_timeout);
        let first_byte = shorter(options.connect_timeout.map(|c| c + first_byte), first_byte);
        let body = BodyBounds {
            max_bytes: limits.max_response_bytes,
            between_bytes: shorter(options.between_bytes_timeout, limits.between_bytes_timeout),
        };
        Ok(Admitted { request, destination, first_byte, body, permit })
    }
}

/// Where an absolute request URI goes.
fn destination(uri: &http::Uri) -> Option<Destination> {
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host()?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).to_ascii_lowercase();
    let host = host.parse::<std::net::IpAddr>().map_or(host, |ip| ip.to_string());
    let port = uri.port_u16().or_else(|| default_port(&scheme))?;
    Some(Destination { scheme, host, port })
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        let admitted = match self.admit(request, options) {
            Ok(admitted) => admitted,
            Err(error) => return Box::new(async move { Err(error) }),
        };
        let client = self.config.client.client().clone();
        // In the call's span (bot and request id), which the spawned task would lose.
        let span = tracing::Span::current();
        let task = self.runtime.spawn(tracing::Instrument::instrument(send(client, admitted), span));
        let task = AbortOnDropJoinHandle::from(task);
        Box::new(async move {
            let response = task.await?;
            let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async { Ok(()) });
            Ok((response, io))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_default_their_port_and_unbracket_v6() {
        let d = destination(&"https://API.openai.com/v1/x?key=1".parse().unwrap()).unwrap();
        assert_eq!(d.to_string(), "https://api.openai.com:443");
        let d = destination(&"http://[::1]:8080/".parse().unwrap()).unwrap();
        assert_eq!((d.host.as_str(), d.port), ("::1", 8080));
        assert_eq!(d.to_string(), "http://[::1]:8080");
    }
}
