//! [`OutboundClient`]: the one HTTP client every bot's outbound requests share — pooled
//! connections, rustls with the platform's roots, no redirects followed (a redirect is an
//! answer the bot reads; following it could leave the allowlist), and names resolved
//! through the SSRF guard.

use std::sync::Arc;
use std::time::Duration;

use super::address::GuardedResolver;

/// How long a connection may take to open by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The shared client.
pub struct OutboundClient {
    client: reqwest::Client,
    connect_timeout: Duration,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient").field("connect_timeout", &self.connect_timeout).finish()
    }
}

impl PartialEq for OutboundClient {
    fn eq(&self, other: &Self) -> bool {
        self.connect_timeout == other.connect_timeout
    }
}

impl Default for OutboundClient {
    fn default() -> Self {
        Self::new(DEFAULT_CONNECT_TIMEOUT).expect("the default client builds")
    }
}

impl OutboundClient {
    /// A client whose connections must open within `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver))
            .no_proxy()
            .build()
            .map_err(|e| anyhow::anyhow!("failed to build the outbound HTTP client: {e}"))?;
        Ok(Self { client, connect_timeout })
    }

    /// The client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }
}
