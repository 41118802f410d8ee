//! The Poe SSE wire format: `event: NAME\r\ndata: JSON\r\n\r\n`, keep-alive comments,
//! and the JSON shape of every event, as fastapi_poe writes them (protocol §4).

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::bindings::types::{ContentType, ErrorResponse, ErrorType, PartialResponse};

/// The text of the error event for any failure inside the bot, as fastapi_poe sends it.
pub const UNEXPECTED_ISSUE: &str = "The bot encountered an unexpected issue.";

/// The final event of every stream.
pub fn done_event() -> Bytes {
    Bytes::from_static(b"event: done\r\ndata: {}\r\n\r\n")
}

/// One event with `data` serialised as compact JSON (which never contains a raw newline).
pub fn encode_event(name: &str, data: &impl Serialize) -> Bytes {
    let mut buf = BytesMut::with_capacity(64).writer();
    let out = buf.get_mut();
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\r\ndata: ");
    serde_json::to_writer(&mut buf, data).expect("serialising plain data to memory cannot fail");
    let mut buf = buf.into_inner();
    buf.put_slice(b"\r\n\r\n");
    buf.freeze()
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
    Ok(match part {
        PartialResponse::Text(text) => encode_event("text", &Text { text }),
        PartialResponse::ReplaceResponse(text) => encode_event("replace_response", &Text { text }),
        PartialResponse::SuggestedReply(text) => encode_event("suggested_reply", &Text { text }),
        PartialResponse::Meta(m) => encode_event(
            "meta",
            &Meta {
                content_type: content_type_str(m.content_type),
                refetch_settings: m.refetch_settings,
                linkify: m.linkify,
                suggested_replies: m.suggested_replies,
            },
        ),
        PartialResponse::Data(metadata) => encode_event("data", &Data { metadata }),
        PartialResponse::Json(json) => encode_event("json", &parse_json_object(json)?),
        PartialResponse::File(f) => encode_event(
            "file",
            &File {
                url: &f.url,
                content_type: &f.content_type,
                name: &f.name,
                inline_ref: f.inline_ref.as_deref(),
            },
        ),
        PartialResponse::Error(e) => error_event(e),
    })
}

/// The `error` event for an error response.
pub fn error_event(e: &ErrorResponse) -> Bytes {
    let data = Error {
        allow_retry: e.allow_retry,
        text: &e.text,
        raw_response: e.raw_response.as_deref(),
        error_type: e.error_type.map(error_type_str),
    };
    encode_event("error", &data)
}

fn parse_json_object(json: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    serde_json::from_str(json).map_err(|e| format!("json output must be a JSON object: {e}"))
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
    fn ping_looks_like_python_datetime() {
        let t = time::macros::datetime!(2026-11-26 06:19:34.296333 UTC);
        assert_eq!(&ping_comment(t)[..], b": ping - 2026-11-26 06:19:34.296333+00:00\r\n\r\n");
    }
}
