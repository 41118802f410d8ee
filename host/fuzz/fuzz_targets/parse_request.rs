//! Arbitrary bytes as a request body: `parse_request` must return `Ok` or `Err`, never
//! panic or overflow the stack (serde_json's recursion limit refuses deep nesting). A
//! parsed query also goes through attachment insertion and the WIT conversion, as in
//! `routes` before a guest call.
//!
//! The server parses on tokio worker threads, whose stacks are 2 MiB, so the work runs on
//! a thread with that stack (`POE_FUZZ_STACK_BYTES` overrides it) rather than libFuzzer's
//! 8 MiB main thread: nesting that only fits in 8 MiB would still crash the server.
#![no_main]

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use poe_host::protocol::attachments::insert_attachment_messages;
use poe_host::guest::bindings::types as wit;
use poe_host::protocol::{ParseError, Request, parse_request};

/// tokio's default worker-thread stack.
const TOKIO_WORKER_STACK: usize = 2 * 1024 * 1024;

struct Worker {
    bodies: SyncSender<Vec<u8>>,
    done: Mutex<Receiver<()>>,
}

fn worker() -> &'static Worker {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    WORKER.get_or_init(|| {
        let stack = std::env::var("POE_FUZZ_STACK_BYTES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(TOKIO_WORKER_STACK);
        let (bodies, inbox) = sync_channel::<Vec<u8>>(0);
        let (done_tx, done) = sync_channel(0);
        std::thread::Builder::new()
            .name("parse".into())
            .stack_size(stack)
            .spawn(move || {
                // A panic here aborts the process (libfuzzer-sys's panic hook): a crash.
                for body in inbox {
                    check(&body);
                    done_tx.send(()).expect("fuzz thread waits");
                }
            })
            .expect("spawn parse thread");
        Worker { bodies, done: Mutex::new(done) }
    })
}

fuzz_target!(|body: &[u8]| {
    let w = worker();
    w.bodies.send(body.to_vec()).expect("parse thread alive");
    w.done.lock().unwrap().recv().expect("parse thread alive");
});

fn check(body: &[u8]) {
    match parse_request(body) {
        Ok(Request::Query(mut q)) => {
            let before = q.query.len();
            let last_attachments = q.query.last().map(|m| m.attachments.len()).unwrap_or(0);
            insert_attachment_messages(&mut q.query);
            // At most one message per attachment of the last message, inserted before it.
            assert!(q.query.len() >= before && q.query.len() <= before + last_attachments);
            let after = q.query.len();
            let converted: wit::QueryRequest = (*q).into();
            assert_eq!(converted.query.len(), after);
            for m in &converted.query {
                // Free-form objects stay JSON object text.
                assert!(m.parameters.starts_with('{'), "{:?}", m.parameters);
            }
            if let Some(extra) = &converted.extra_params {
                assert!(extra.starts_with('{'), "{extra:?}");
            }
        }
        Ok(Request::ReportError(e)) => assert!(e.metadata.as_str().starts_with('{')),
        Ok(Request::Settings(_) | Request::ReportFeedback(_) | Request::ReportReaction(_)) => {}
        Err(e) => {
            // Every error renders (it becomes the 400/501 body).
            let _ = e.to_string();
            if let ParseError::Invalid { kind, .. } = e {
                assert!(
                    ["query", "settings", "report_feedback", "report_reaction", "report_error"].contains(&kind)
                );
            }
        }
    }
}
