//! [`PlatformConfig`]: where the host sends a bot's uploads and cost calls.

use std::sync::Arc;

use crate::capabilities::bot_query::client::PoeApi;

/// fastapi_poe's default base of the upload API (`POE_API_WEBSERVER_BASE_URL`).
pub const DEFAULT_UPLOAD_BASE: &str = "https://www.quora.com/poe_api/";

/// The APIs' addresses and the client.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformConfig {
    /// The shared client to Poe; cost calls go to `{base}cost/…` (fastapi_poe's
    /// `https://api.poe.com/bot/cost/…` with the default base).
    pub api: Arc<PoeApi>,
    /// `{upload base}file_upload_3RD_PARTY_POST`.
    pub upload_url: String,
}

impl PlatformConfig {
    /// Uploads to `upload_base` (fastapi_poe's `base_url`), cost calls through `api`.
    pub fn new(api: Arc<PoeApi>, upload_base: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(upload_base)
            .map_err(|e| anyhow::anyhow!("invalid --poe-upload-base {upload_base:?}: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("invalid --poe-upload-base {upload_base:?}: expected an http or https URL");
        }
        let upload_url = format!("{}/file_upload_3RD_PARTY_POST", upload_base.trim_end_matches('/'));
        Ok(Self { api, upload_url })
    }

    /// The cost API's URL for `bot_query_id` and `action` (`authorize` or `capture`).
    pub fn cost_url(&self, bot_query_id: &str, action: &str) -> String {
        self.api.url(&format!("cost/{bot_query_id}/{action}"))
    }
}

impl Default for PlatformConfig {
    fn default() -> Self {
        let api = PoeApi::new(crate::capabilities::bot_query::client::DEFAULT_POE_API_BASE);
        Self::new(Arc::new(api.expect("the default API base is valid")), DEFAULT_UPLOAD_BASE)
            .expect("the default upload base is valid")
    }
}
