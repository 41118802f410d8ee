//! The Poe request protocol: parsing request bodies into typed models (fastapi_poe's
//! pydantic models, protocol §3), converting them to WIT types, and writing settings JSON.
//!
//! Parsing happens in two steps like fastapi_poe: the raw `type` first (unknown → 501),
//! then the typed model (invalid → 400 naming the problem).

pub mod convert;
pub mod models;
pub mod settings;

use std::borrow::Cow;

use serde::Deserialize;

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

/// Why a body is not a valid request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON, not an object, or no string `type`.
    #[error("invalid request body: {0}")]
    Malformed(String),
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
    let envelope: Envelope<'_> = serde_json::from_slice(body).map_err(|e| {
        let why = if e.is_data() { "body must be a JSON object".to_owned() } else { e.to_string() };
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
    serde_json::from_slice(body).map_err(|e| ParseError::Invalid { kind, detail: e.to_string() })
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
    fn deep_nesting_is_rejected_not_a_stack_overflow() {
        let mut body = br#"{"type":"report_error","version":"1","message":"m","metadata":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', 100_000));
        assert!(parse_request(&body).is_err());
    }
}
