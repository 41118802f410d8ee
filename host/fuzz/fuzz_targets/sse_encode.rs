//! A `PartialResponse` built from fuzz data (every variant, arbitrary strings) through
//! `sse::encode_partial`. Every `Ok` must be one well-framed SSE event,
//! `event: NAME\r\ndata: JSON\r\n\r\n`, whose data line has no raw CR/LF and is a JSON
//! object carrying the part's strings unchanged; `Err` is allowed only for a `json` part
//! whose text is not a JSON object.
#![no_main]

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use poe_host::guest::bindings::types::{
    ContentType, ErrorResponse, ErrorType, FileAttachment, MetaResponse, PartialResponse,
};
use poe_host::protocol::sse::encode_partial;
use serde_json::{Map, Value};

fn content_type(u: &mut Unstructured<'_>) -> Result<ContentType> {
    Ok(if u.arbitrary()? { ContentType::TextPlain } else { ContentType::TextMarkdown })
}

fn error_type(u: &mut Unstructured<'_>) -> Result<Option<ErrorType>> {
    Ok(match u.int_in_range(0..=4u8)? {
        0 => None,
        1 => Some(ErrorType::UserMessageTooLong),
        2 => Some(ErrorType::InsufficientFund),
        3 => Some(ErrorType::UserCausedError),
        _ => Some(ErrorType::PrivacyAuthorizationError),
    })
}

/// The rest of the input as text (lossy), so the fuzzer can grow whole JSON documents.
fn rest(u: &mut Unstructured<'_>) -> String {
    let n = u.len();
    String::from_utf8_lossy(u.bytes(n).unwrap_or_default()).into_owned()
}

fn part(u: &mut Unstructured<'_>) -> Result<PartialResponse> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => PartialResponse::Text(rest(u)),
        1 => PartialResponse::ReplaceResponse(rest(u)),
        2 => PartialResponse::SuggestedReply(rest(u)),
        3 => PartialResponse::Meta(MetaResponse {
            content_type: content_type(u)?,
            suggested_replies: u.arbitrary()?,
            linkify: u.arbitrary()?,
            refetch_settings: u.arbitrary()?,
        }),
        4 => PartialResponse::Data(rest(u)),
        5 => PartialResponse::Json(rest(u)),
        6 => PartialResponse::File(FileAttachment {
            url: u.arbitrary()?,
            content_type: u.arbitrary()?,
            name: u.arbitrary()?,
            inline_ref: u.arbitrary()?,
        }),
        _ => PartialResponse::Error(ErrorResponse {
            allow_retry: u.arbitrary()?,
            error_type: error_type(u)?,
            raw_response: u.arbitrary()?,
            text: u.arbitrary()?,
        }),
    })
}

fn event_name(p: &PartialResponse) -> &'static str {
    match p {
        PartialResponse::Text(_) => "text",
        PartialResponse::ReplaceResponse(_) => "replace_response",
        PartialResponse::SuggestedReply(_) => "suggested_reply",
        PartialResponse::Meta(_) => "meta",
        PartialResponse::Data(_) => "data",
        PartialResponse::Json(_) => "json",
        PartialResponse::File(_) => "file",
        PartialResponse::Error(_) => "error",
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

fn s(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

fn check(p: &PartialResponse, bytes: &[u8]) {
    let name = event_name(p);
    let head = format!("event: {name}\r\ndata: ");
    assert!(bytes.starts_with(head.as_bytes()), "bad head: {bytes:?}");
    assert!(bytes.ends_with(b"\r\n\r\n"), "bad tail: {bytes:?}");
    assert_eq!(count(bytes, b"\r\ndata: "), 1, "not exactly one data line: {bytes:?}");
    assert!(bytes.len() >= head.len() + 4);
    let data = &bytes[head.len()..bytes.len() - 4];
    assert!(!data.contains(&b'\n') && !data.contains(&b'\r'), "raw CR/LF in data: {bytes:?}");
    let obj: Map<String, Value> = match (p, serde_json::from_slice(data)) {
        (_, Ok(obj)) => obj,
        // A bot's json goes out as its own tokens, so a number serde_json cannot hold as a
        // value (1e400) passes too, as fastapi_poe passes it.
        (PartialResponse::Json(j), Err(_)) => {
            assert!(serde_json::from_str::<Map<String, Value>>(j).is_err(), "data differs from the part");
            return;
        }
        (_, Err(e)) => panic!("data is not a JSON object: {e}"),
    };

    // The part's content survives the trip unchanged.
    let text = |t: &str| assert_eq!(obj.get("text"), Some(&Value::String(t.to_owned())));
    match p {
        PartialResponse::Text(t) | PartialResponse::ReplaceResponse(t) | PartialResponse::SuggestedReply(t) => {
            assert_eq!(obj.len(), 1);
            text(t);
        }
        PartialResponse::Meta(m) => {
            assert_eq!(obj.len(), 4);
            assert_eq!(obj["linkify"], Value::Bool(m.linkify));
            assert_eq!(obj["suggested_replies"], Value::Bool(m.suggested_replies));
            assert_eq!(obj["refetch_settings"], Value::Bool(m.refetch_settings));
            assert!(matches!(obj["content_type"].as_str(), Some("text/markdown" | "text/plain")));
        }
        PartialResponse::Data(d) => {
            assert_eq!(obj.len(), 1);
            assert_eq!(obj["metadata"], Value::String(d.clone()));
        }
        PartialResponse::Json(j) => {
            // The bot's own tokens, in its order, without the whitespace between them: the
            // same numbers as text, so both read as the same value.
            let original: Map<String, Value> = serde_json::from_str(j).expect("data parsed, so the part does");
            assert_eq!(obj, original, "json part not carried unchanged");
            assert!(data.len() <= j.len(), "json part grew");
        }
        PartialResponse::File(f) => {
            assert_eq!(obj.len(), 4);
            assert_eq!(obj["url"], Value::String(f.url.clone()));
            assert_eq!(obj["content_type"], Value::String(f.content_type.clone()));
            assert_eq!(obj["name"], Value::String(f.name.clone()));
            assert_eq!(obj["inline_ref"], s(f.inline_ref.as_deref()));
        }
        PartialResponse::Error(e) => {
            text(&e.text);
            assert_eq!(obj["allow_retry"], Value::Bool(e.allow_retry));
            assert_eq!(obj.get("raw_response").cloned(), e.raw_response.as_deref().map(|r| s(Some(r))));
            assert_eq!(obj.contains_key("error_type"), e.error_type.is_some());
            assert_eq!(obj.len(), 2 + usize::from(e.raw_response.is_some()) + usize::from(e.error_type.is_some()));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(p) = part(&mut u) else { return };
    match encode_partial(&p) {
        Ok(bytes) => check(&p, &bytes),
        Err(why) => {
            let PartialResponse::Json(j) = &p else { panic!("only json parts may be refused: {why}") };
            assert!(serde_json::from_str::<Map<String, Value>>(j).is_err(), "refused a JSON object: {why}");
        }
    }
});
