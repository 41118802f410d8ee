//! The `poe-host` binary: parse flags, set up logging, then serve, check, build or sync settings.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use poe_host::bots::sidecar::HostDefaults;
use poe_host::cli::{BuildArgs, Cli, Command, ServeArgs, SyncArgs};
use poe_host::http::auth::AccessKey;
use poe_host::sync_settings::Sync;
use poe_host::{check, http::server};
use tracing_subscriber::EnvFilter;

/// jemalloc, returning freed memory to the system: with glibc's malloc the host's RSS stayed
/// at ~150 MiB after a burst of large guest outputs (freed, but kept in glibc's arenas), where
/// it started at ~40 MiB. The options below give pages back within about a second of being
/// freed, on a background thread rather than on a request's path (measured in the README's
/// "What a call can cost the host" and in scripts/smoke.sh).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (its `malloc_conf` symbol, under tikv-jemallocator's `_rjem_`
/// prefix; a C string): purge freed pages after 1 s, straight to the kernel (a "muzzy" page,
/// lazily freed, would still count in RSS), from jemalloc's own background thread.
#[cfg(target_os = "linux")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static JEMALLOC_OPTIONS: &[u8; 60] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("poe_host=info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Check { file, cache_dir } => {
            check::check_file_into(&file, cache_dir).map(|summary| println!("{summary}"))
        }
        Command::SyncSettings(args) => sync_settings(args),
        Command::Build(args) => build(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.host_config();
    let state = server::build_state(&config).await?;
    let listener = server::bind(args.listen)?;
    println!("listening on http://{}", listener.local_addr()?);
    server::serve(listener, state, shutdown_signal()).await
}

#[tokio::main]
async fn sync_settings(args: SyncArgs) -> anyhow::Result<()> {
    let defaults = HostDefaults {
        access_key: args.access_key.as_deref().map(AccessKey::new),
        ..HostDefaults::default()
    };
    let how = if args.fetch { Sync::Fetch } else { Sync::Update };
    let poe_name = args.poe_name.as_deref().unwrap_or(&args.name);
    let summary =
        poe_host::sync_settings::run(&args.bots, &args.name, poe_name, defaults, args.poe_api_base, how)
            .await?;
    println!("{summary}");
    Ok(())
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let src = args.src.clone();
    let output = poe_host::build::build(&src, &args.options())?;
    println!("built {} (check it with `poe-host check {}`)", output.display(), output.display());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async { tokio::signal::ctrl_c().await.expect("installing the ctrl-c handler") };
    #[cfg(unix)]
    let terminate = async {
        let mut s = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        s.recv().await;
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}
