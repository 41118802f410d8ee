//! The Poe SSE wire format: `event: NAME\r\ndata: JSON\r\n\r\n`, keep-alive comments,
//! and the JSON shape of every event, as fastapi_poe writes them (protocol §4).

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::guest::bindings::types::{ContentType, ErrorResponse, ErrorType, PartialResponse};

/// The text of the error event for any failure inside the bot, as fastapi_poe sends it.
pub const UNEXPECTED_ISSUE: &str = "The bot encountered an unexpected issue.";

/// The final event of every stream.
pub fn done_event() -> Bytes {
    Bytes::from_static(b"event: done\r\ndata: {}\r\n\r\n")
}

/// One event with `data` serialised as compact JSON (which never contains a raw newline).
pub fn encode_event(name: &str, data: &impl Serialize) -> Bytes {
    encode_event_within(name, data, usize::MAX).expect("no event is longer than usize::MAX")
}

const FRAME: &[&[u8]] = &[b"event: ", b"\r\ndata: ", b"\r\n\r\n"];

/// One event, or `None` if it would be longer than `limit` bytes. Its length is measured
/// first, so the buffer is allocated once at its exact size (a growing buffer could hold
/// twice the event, and its old copy as well while it moves) and an event over `limit` is
/// never built: escaping can make an event six times its text.
pub fn encode_event_within(name: &str, data: &impl Serialize, limit: usize) -> Option<Bytes> {
    let mut counter = ByteCounter(0);
    serde_json::to_writer(&mut counter, data).expect("serialising plain data cannot fail");
    let len = FRAME.iter().map(|part| part.len()).sum::<usize>() + name.len() + counter.0;
    if len > limit {
        return None;
    }
    let mut buf = BytesMut::with_capacity(len).writer();
    let out = buf.get_mut();
    out.put_slice(FRAME[0]);
    out.put_slice(name.as_bytes());
    out.put_slice(FRAME[1]);
    serde_json::to_writer(&mut buf, data).expect("serialising plain data to memory cannot fail");
    let mut buf = buf.into_inner();
    buf.put_slice(FRAME[2]);
    debug_assert_eq!(buf.len(), len);
    Some(buf.freeze())
}

/// A writer that only counts what is written to it.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The keep-alive comment, stamped like Python's `str(datetime.now(timezone.utc))`.
pub fn ping_comment(now: time::OffsetDateTime) -> Bytes {
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00:00",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.microsecond()
    );
    Bytes::from(format!(": ping - {stamp}\r\n\r\n"))
}

#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Meta {
    content_type: &'static str,
    refetch_settings: bool,
    linkify: bool,
    suggested_replies: bool,
}

#[derive(Serialize)]
struct File<'a> {
    url: &'a str,
    content_type: &'a str,
    name: &'a str,
    inline_ref: Option<&'a str>,
}

#[derive(Serialize)]
struct Data<'a> {
    metadata: &'a str,
}

#[derive(Serialize)]
struct Error<'a> {
    allow_retry: bool,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_response: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'static str>,
}

/// The SSE event for one part a bot emitted, or why the part is invalid.
pub fn encode_partial(part: &PartialResponse) -> Result<Bytes, String> {
    Ok(encode_partial_within(part, usize::MAX)?.expect("no event is longer than usize::MAX"))
}

/// The SSE event for one part, `Ok(None)` if it would be longer than `limit` bytes (nothing
/// of that size is allocated), or why the part is invalid.
pub fn encode_partial_within(part: &PartialResponse, limit: usize) -> Result<Option<Bytes>, String> {
    let text = |name, text| encode_event_within(name, &Text { text }, limit);
    Ok(match part {
        PartialResponse::Text(t) => text("text", t),
        PartialResponse::ReplaceResponse(t) => text("replace_response", t),
        PartialResponse::SuggestedReply(t) => text("suggested_reply", t),
        PartialResponse::Meta(m) => encode_event_within(
            "meta",
            &Meta {
                content_type: content_type_str(m.content_type),
                refetch_settings: m.refetch_settings,
                linkify: m.linkify,
                suggested_replies: m.suggested_replies,
            },
            limit,
        ),
        PartialResponse::Data(metadata) => encode_event_within("data", &Data { metadata }, limit),
        PartialResponse::Json(json) => encode_event_within("json", &compact_json_object(json)?, limit),
        PartialResponse::File(f) => encode_event_within(
            "file",
            &File {
                url: &f.url,
                content_type: &f.content_type,
                name: &f.name,
                inline_ref: f.inline_ref.as_deref(),
            },
            limit,
        ),
        PartialResponse::Error(e) => encode_event_within("error", &error_data(e), limit),
    })
}

/// The `error` event for an error response.
pub fn error_event(e: &ErrorResponse) -> Bytes {
    encode_event("error", &error_data(e))
}

fn error_data(e: &ErrorResponse) -> Error<'_> {
    Error {
        allow_retry: e.allow_retry,
        text: &e.text,
        raw_response: e.raw_response.as_deref(),
        error_type: e.error_type.map(error_type_str),
    }
}

/// A bot's `json` output, checked to be one JSON object and with the whitespace between
/// tokens removed (so no raw newline reaches the data line). It is checked without being
/// parsed into a tree, which could take sixteen times the text's size (`[0,0,…]`), and
/// keeps its keys in the bot's order, as fastapi_poe passes them on.
fn compact_json_object(json: &str) -> Result<Box<RawValue>, String> {
    let raw: &RawValue =
        serde_json::from_str(json).map_err(|e| format!("json output must be a JSON object: {e}"))?;
    if !raw.get().starts_with('{') {
        return Err("json output must be a JSON object: found another JSON value".into());
    }
    let compact = without_whitespace(raw.get());
    Ok(RawValue::from_string(compact).expect("valid JSON stays valid without its whitespace"))
}

/// Valid JSON text without the whitespace between its tokens.
fn without_whitespace(json: &str) -> String {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false); // escaped: the byte after a `\\` in a string
    for &b in json.as_bytes() {
        if escaped {
            escaped = false;
        } else if in_string {
            escaped = b == b'\\';
            in_string = b != b'"';
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            continue;
        }
        out.push(b);
    }
    String::from_utf8(out).expect("only ASCII whitespace was removed")
}

/// The protocol's name for a content type.
pub fn content_type_str(c: ContentType) -> &'static str {
    match c {
        ContentType::TextMarkdown => "text/markdown",
        ContentType::TextPlain => "text/plain",
    }
}

fn error_type_str(e: ErrorType) -> &'static str {
    match e {
        ErrorType::UserMessageTooLong => "user_message_too_long",
        ErrorType::InsufficientFund => "insufficient_fund",
        ErrorType::UserCausedError => "user_caused_error",
        ErrorType::PrivacyAuthorizationError => "privacy_authorization_error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_event_uses_crlf_and_one_data_line() {
        let bytes = encode_partial(&PartialResponse::Text("héllo\nline2".into())).unwrap();
        assert_eq!(&bytes[..], "event: text\r\ndata: {\"text\":\"héllo\\nline2\"}\r\n\r\n".as_bytes());
    }

    #[test]
    fn error_event_omits_unset_optional_keys_and_keeps_key_order() {
        let e = ErrorResponse { text: "no".into(), allow_retry: false, error_type: None, raw_response: None };
        assert_eq!(
            &error_event(&e)[..],
            b"event: error\r\ndata: {\"allow_retry\":false,\"text\":\"no\"}\r\n\r\n"
        );
    }

    #[test]
    fn json_output_must_be_an_object_and_is_recompacted() {
        let ok = encode_partial(&PartialResponse::Json("{\n \"a\": [1, 2]\n}".into())).unwrap();
        assert_eq!(&ok[..], b"event: json\r\ndata: {\"a\":[1,2]}\r\n\r\n");
        assert!(encode_partial(&PartialResponse::Json("[1]".into())).is_err());
        assert!(encode_partial(&PartialResponse::Json("{".into())).is_err());
    }

    #[test]
    fn json_output_keeps_its_key_order_and_the_spaces_inside_strings() {
        let json = "{ \"z\" : \"a b\\\" c\" ,\n\t\"a\": {\"k\\\\\": [ 1 , \"\\u0020\" ]} }";
        let event = encode_partial(&PartialResponse::Json(json.into())).unwrap();
        let expected = "event: json\r\ndata: {\"z\":\"a b\\\" c\",\"a\":{\"k\\\\\":[1,\"\\u0020\"]}}\r\n\r\n";
        assert_eq!(std::str::from_utf8(&event).unwrap(), expected);
    }

    #[test]
    fn an_event_longer_than_its_limit_is_not_built() {
        let part = PartialResponse::Text("\u{1}".repeat(100));
        let event = encode_partial(&part).unwrap();
        assert_eq!(event.len(), 600 + "event: text\r\ndata: {\"text\":\"\"}\r\n\r\n".len());
        assert_eq!(encode_partial_within(&part, event.len()).unwrap(), Some(event.clone()));
        assert_eq!(encode_partial_within(&part, event.len() - 1).unwrap(), None);
    }

    #[test]
    fn ping_looks_like_python_datetime() {
        let t = time::macros::datetime!(2026-11-26 06:19:34.296333 UTC);
        assert_eq!(&ping_comment(t)[..], b": ping - 2026-11-26 06:19:34.296333+00:00\r\n\r\n");
    }
}
