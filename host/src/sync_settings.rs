//! `poe-host sync-settings NAME`: what fastapi_poe's `make_app` does at start-up and its
//! `sync_bot_settings` does by hand (protocol §7.4) — run the bot's `get-settings` and
//! `POST {--poe-api-base}update_settings/NAME/KEY/1.2` with the settings JSON the bot's own
//! settings endpoint answers, or with `--fetch` ask Poe to fetch them from the running bot
//! (`fetch_settings/NAME/KEY/1.2`, no body). Only a 200 counts. A sidecar's
//! `sync_settings = true` does the same after every load of the bot, logged, never fatal.
//!
//! The key sits in the URL's path, as Poe wants it: no message or log line here carries
//! the URL (reqwest's errors are stripped of it).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;

use crate::bots::cache::ArtifactCache;
use crate::bots::sidecar::HostDefaults;
use crate::capabilities::bot_query::client::PoeApi;
use crate::guest::bindings::types::SettingsRequest;
use crate::guest::engine::{EngineOptions, new_engine, new_linker, spawn_epoch_ticker};
use crate::guest::loader::{BotLoader, LoadedBot};
use crate::guest::runner;
use crate::http::auth::AccessKey;
use crate::logtext;
use crate::protocol::settings::settings_json;

/// How long Poe has to answer (fastapi_poe leaves httpx's 5 s; Poe's `fetch_settings` calls
/// the bot back before it answers, so a little more).
const TIMEOUT: Duration = Duration::from_secs(15);

/// The protocol version in the URL, as fastapi_poe sends it.
const PROTOCOL_VERSION: &str = "1.2";

/// What `sync-settings` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// Send the settings the bot returns.
    Update,
    /// Ask Poe to fetch them from the bot's endpoint.
    Fetch,
}

/// Run `poe-host sync-settings`: the bot `name` in `dir`, under `poe_name` on Poe; the
/// summary to print.
pub async fn run(
    dir: &Path,
    name: &str,
    poe_name: &str,
    defaults: HostDefaults,
    api: Arc<PoeApi>,
    how: Sync,
) -> anyhow::Result<String> {
    check_name(poe_name)?;
    let path = dir.join(format!("{name}.wasm"));
    if !path.exists() {
        bail!("{} does not exist: is {name} the bot's file name, and --bots its directory?", path.display());
    }
    let config = crate::bots::sidecar::load_config(&path, &defaults)?;
    let Some(key) = config.access_key else {
        bail!("{name} has no access key: set access_key in its sidecar or POE_ACCESS_KEY");
    };
    match how {
        Sync::Fetch => fetch(&api, poe_name, &key)
            .await
            .map(|status| format!("asked Poe to fetch {poe_name}'s settings: {status}")),
        Sync::Update => {
            let bot = load(&path, name, defaults).await?;
            update(&bot, &api, poe_name, &key)
                .await
                .map(|status| format!("sent {poe_name}'s settings to Poe: {status}"))
        }
    }
}

/// Sync `bot` after it loaded, if its sidecar asks to: logged, never fatal.
pub fn after_load(bot: Arc<LoadedBot>) {
    let Some(key) = bot.config.access_key.clone().filter(|_| bot.config.sync_settings) else { return };
    let api = bot.config.bot_query.api.clone();
    tokio::spawn(async move {
        match update(&bot, &api, &bot.name, &key).await {
            Ok(status) => tracing::info!(bot = %bot.name, "settings synced to Poe: {status}"),
            Err(e) => {
                tracing::warn!(bot = %bot.name, "settings sync failed (the bot is served anyway): {e:#}")
            }
        }
    });
}

/// Run `bot`'s `get-settings` and send the result to `update_settings`.
pub async fn update(
    bot: &LoadedBot,
    api: &PoeApi,
    poe_name: &str,
    key: &AccessKey,
) -> anyhow::Result<String> {
    let request = SettingsRequest { version: PROTOCOL_VERSION.into() };
    let settings = runner::get_settings(bot, request)
        .await
        .map_err(|fault| anyhow::anyhow!("the bot's get-settings failed: {fault}"))?;
    let body =
        settings_json(&settings).map_err(|e| anyhow::anyhow!("the bot's settings are unusable: {e}"))?;
    post(api, &format!("update_settings/{poe_name}/{}/{PROTOCOL_VERSION}", url_key(key)), Some(body)).await
}

async fn fetch(api: &PoeApi, poe_name: &str, key: &AccessKey) -> anyhow::Result<String> {
    post(api, &format!("fetch_settings/{poe_name}/{}/{PROTOCOL_VERSION}", url_key(key)), None).await
}

/// POST `path` under the API base; the status on a 200, else an error with Poe's answer.
async fn post(api: &PoeApi, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<String> {
    let mut request = api.client().post(api.url(path)).timeout(TIMEOUT);
    if let Some(body) = body {
        request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
    }
    let response =
        request.send().await.map_err(|e| anyhow::anyhow!("cannot reach Poe: {}", e.without_url()))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let text = logtext::escape_line(&text, 500);
    if status != reqwest::StatusCode::OK {
        bail!("Poe answered {status}: {text}");
    }
    Ok(format!("{status} {text}"))
}

/// The key as a path segment: Poe's keys need no escaping; anything else is escaped.
fn url_key(key: &AccessKey) -> String {
    percent_encoding::utf8_percent_encode(key.secret(), percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !ok || name.starts_with('.') {
        bail!("{name:?} is not a Poe bot name (letters, digits, -, _ and .)");
    }
    Ok(())
}

/// Load the bot alone, as `check` does, to run its `get-settings`.
async fn load(path: &Path, name: &str, defaults: HostDefaults) -> anyhow::Result<Arc<LoadedBot>> {
    let options = EngineOptions {
        pool_size: 1,
        max_memory: defaults.limits.max_memory,
        cache_dir: None,
        cache_max_bytes: 0,
    };
    let engine = new_engine(&options)?;
    spawn_epoch_ticker(&engine);
    let linker = new_linker(&engine)?;
    let cache = ArtifactCache::new(&engine, None, 0)?;
    let loader = BotLoader::new(engine, linker, defaults, cache);
    let (path, name) = (path.to_owned(), name.to_owned());
    let bot = tokio::task::spawn_blocking(move || loader.load(&name, &path, None)).await??;
    Ok(Arc::new(bot))
}
