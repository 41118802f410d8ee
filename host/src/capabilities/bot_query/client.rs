//! [`PoeApi`]: the one HTTP client every bot's calls to Poe's Bot Query API share —
//! pooled connections, rustls with the platform's roots, no redirects followed — and the
//! two requests fastapi_poe's client makes: the query and its `report_error` calls.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};

use crate::http::auth::AccessKey;

/// fastapi_poe's default base URL of the Bot Query API.
pub const DEFAULT_POE_API_BASE: &str = "https://api.poe.com/bot/";

/// How long a connection to Poe may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// The shared client and where it sends bot queries.
pub struct PoeApi {
    client: reqwest::Client,
    base: String,
}

impl std::fmt::Debug for PoeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoeApi").field("base", &self.base).finish_non_exhaustive()
    }
}

impl PartialEq for PoeApi {
    fn eq(&self, other: &Self) -> bool {
        self.base == other.base
    }
}

impl PoeApi {
    /// A client for the API at `base` (`{base}{bot_name}` is a bot's URL, as in fastapi_poe).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let url =
            reqwest::Url::parse(base).map_err(|e| anyhow::anyhow!("invalid --poe-api-base {base:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            anyhow::bail!("invalid --poe-api-base {base:?}: expected an http or https URL");
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("poe-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| anyhow::anyhow!("failed to build the HTTP client: {e}"))?;
        Ok(Self { client, base: base.to_owned() })
    }

    /// The client, for Poe's other APIs (uploads, cost).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `bot` (its name was checked to need no escaping).
    pub fn url(&self, bot: &str) -> String {
        format!("{}{bot}", self.base)
    }

    /// POST a query `body` to `url`, asking for an event stream.
    pub async fn query(&self, url: &str, key: &AccessKey, body: Bytes) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(url)
            .header(AUTHORIZATION, bearer(key))
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-store")
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
    }

    /// POST a `report_error` `body` to `url`; its answer is not read.
    pub async fn report_error(&self, url: &str, key: &AccessKey, body: Vec<u8>) -> reqwest::Result<()> {
        self.client
            .post(url)
            .header(AUTHORIZATION, bearer(key))
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        Ok(())
    }
}

/// `Bearer KEY`, marked sensitive so no debug output or log of the request shows it.
fn bearer(key: &AccessKey) -> HeaderValue {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", key.secret()))
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    value.set_sensitive(true);
    value
}
