//! The Poe request protocol: parsing request bodies into typed models (fastapi_poe's
//! pydantic models, protocol §3), converting them to WIT types, and writing settings JSON.
//!
//! Parsing happens in two steps like fastapi_poe: the raw `type` first (unknown → 501),
//! then the typed model (invalid → 400 naming the problem). Before either, the body's
//! shape (nesting, number of values) is bounded (`shape`).

pub mod attachments; // attachment-message insertion (protocol §6.1)
pub mod convert;
pub mod models;
pub mod query_body; // the JSON body a bot query sends (protocol §7.1)
pub mod settings;
pub mod shape;
pub mod sse; // the SSE wire format and event JSON

use std::borrow::Cow;

use serde::Deserialize;

use crate::logtext::escape_line;
pub use shape::{Shape, ShapeError, check_shape};

pub use models::{
    QueryRequest, ReportErrorRequest, ReportFeedbackRequest, ReportReactionRequest, SettingsRequest,
};

/// A parsed request body, by `type`.
#[derive(Debug)]
pub enum Request {
    /// `query`: answer with an SSE stream.
    Query(Box<QueryRequest>),
    /// `settings`: answer with the settings JSON.
    Settings(SettingsRequest),
    /// `report_feedback`.
    ReportFeedback(ReportFeedbackRequest),
    /// `report_reaction`.
    ReportReaction(ReportReactionRequest),
    /// `report_error`.
    ReportError(ReportErrorRequest),
}

/// Longest parser message quoted in an error body or log line: serde's messages quote the
/// client's text (an unknown variant), which could be megabytes or forge a log line.
pub const MAX_DETAIL: usize = 1024;

/// Why a body is not a valid request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, not an object, or no string `type`.
    #[error("invalid request body: {0}")]
    Malformed(String),
    /// Nested too deep, or too many values, to be parsed.
    #[error("invalid request body: {0}")]
    Shape(#[from] ShapeError),
    /// A `type` this host does not know (the spec asks for 501).
    #[error("unsupported request type")]
    UnsupportedType,
    /// A known type whose fields are missing or ill-typed.
    #[error("invalid {kind} request: {detail}")]
    Invalid {
        /// The request type.
        kind: &'static str,
        /// What serde found wrong, with its position.
        detail: String,
    },
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

/// Parse a request body: envelope first, then the model its `type` names.
pub fn parse_request(body: &[u8]) -> Result<Request, ParseError> {
    let shape = check_shape(body)?;
    parse_shaped(body, shape)
}

/// [`parse_request`] for a body whose `shape` was already checked.
pub fn parse_shaped(body: &[u8], _checked: Shape) -> Result<Request, ParseError> {
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|e| {
        let why = if e.is_data() { "body must be a JSON object".to_owned() } else { detail(&e) };
        ParseError::Malformed(why)
    })?;
    let kind = envelope.kind.ok_or_else(|| ParseError::Malformed("missing field `type`".into()))?;
    match &*kind {
        "query" => typed(body, "query").map(|q| Request::Query(Box::new(q))),
        "settings" => typed(body, "settings").map(Request::Settings),
        "report_feedback" => typed(body, "report_feedback").map(Request::ReportFeedback),
        "report_reaction" => typed(body, "report_reaction").map(Request::ReportReaction),
        "report_error" => typed(body, "report_error").map(Request::ReportError),
        _ => Err(ParseError::UnsupportedType),
    }
}

fn typed<'a, T: Deserialize<'a>>(body: &'a [u8], kind: &'static str) -> Result<T, ParseError> {
    serde_json::from_slice(body).map_err(|e| ParseError::Invalid { kind, detail: detail(&e) })
}

/// serde's message, cut and escaped: it may quote the client's text.
fn detail(error: &serde_json::Error) -> String {
    escape_line(&error.to_string(), MAX_DETAIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_object_bodies_are_malformed() {
        for body in [&b"not json"[..], b"[1,2]", b"{}", b"{\"type\": 3}", b""] {
            assert!(matches!(parse_request(body), Err(ParseError::Malformed(_))), "{body:?}");
        }
    }

    #[test]
    fn unknown_type_is_unsupported_even_without_version() {
        assert_eq!(parse_request(br#"{"type":"frobnicate"}"#).unwrap_err(), ParseError::UnsupportedType);
    }

    #[test]
    fn missing_field_names_the_field() {
        let err = parse_request(br#"{"type":"settings"}"#).unwrap_err().to_string();
        assert!(err.contains("`version`"), "{err}");
    }

    #[test]
    fn client_text_in_a_parse_error_is_cut_and_escaped() {
        let variant = format!(r"x\nINFO poe_host::bots::reload: forged{}", "y".repeat(8 << 20));
        let body = format!(
            r#"{{"type":"report_feedback","version":"1","message_id":"m","user_id":"u","conversation_id":"c","feedback_type":"{variant}"}}"#
        );
        let err = parse_request(body.as_bytes()).unwrap_err().to_string();
        assert!(err.len() < MAX_DETAIL + 100, "{} bytes", err.len());
        assert!(err.contains(r"unknown variant `x\nINFO poe_host::bots::reload: forged"), "{}", &err[..200]);
        assert!(!err.contains('\n') && err.ends_with('…'), "one line, marked as cut");
    }

    #[test]
    fn deep_nesting_inside_free_form_fields_is_rejected() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let base = r#""type":"query","version":"1.2","query":[{"role":"user","content":"hi","parameters":{"p":P}}],"user_id":"u","conversation_id":"c","message_id":"m""#;
        for (place, body) in [
            ("extra_params", format!(r#"{{{},"extra_params":{{"x":{deep}}}}}"#, base.replace("P", "1"))),
            ("parameters", format!("{{{}}}", base.replace("P", &deep))),
            ("unknown field", format!(r#"{{{},"unknown":{deep}}}"#, base.replace("P", "1"))),
        ] {
            let err = parse_request(body.as_bytes()).unwrap_err();
            assert_eq!(err, ParseError::Shape(ShapeError::TooDeep), "{place}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_not_a_stack_overflow() {
        let mut body = br#"{"type":"report_error","version":"1","message":"m","metadata":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(parse_request(&body).is_err());
    }
}
