//! The values events carry: payloads (bytes stored unchanged), failures and retry policies.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A serialized value (UTF-8 JSON by convention of the SDKs), stored unchanged.
///
/// ```
/// use weft_core::history::Payload;
/// let p = Payload::json(&serde_json::json!({"cents": 4200}));
/// assert_eq!(p.0, br#"{"cents":4200}"#);
/// assert_eq!(p.to_json()["cents"], 4200);
/// assert_eq!(Payload(vec![0xff]).to_json(), "<1 bytes, not JSON>");
/// ```
///
/// Serialized as bytes in binary formats (the stored encoding). In human-readable formats
/// (JSON: the history file, [`crate::history::HistoryFile`]) as `{"json": <the payload's text,
/// verbatim>}` when the bytes are a JSON text, otherwise `{"base64": "..."}`, so a payload
/// reads as what it holds and still round-trips byte for byte; an array of byte values (the
/// earlier JSON form) is read too.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Payload(pub Vec<u8>);

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if !serializer.is_human_readable() {
            return serde_bytes::serialize(&self.0, serializer);
        }
        let mut map = serializer.serialize_map(Some(1))?;
        match self.as_raw_json() {
            Some(raw) => map.serialize_entry("json", &raw)?,
            None => map.serialize_entry("base64", &BASE64.encode(&self.0))?,
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if !deserializer.is_human_readable() {
            return serde_bytes::deserialize(deserializer).map(Payload);
        }
        deserializer.deserialize_any(PayloadVisitor)
    }
}

/// Reads the human-readable forms of a payload; `{"json": ...}` keeps the text verbatim.
struct PayloadVisitor;

impl<'de> serde::de::Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a payload: {"json": ...}, {"base64": "..."} or an array of bytes"#)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Payload, A::Error> {
        use serde::de::Error;
        let key: String = map
            .next_key()?
            .ok_or_else(|| A::Error::custom("a payload object needs a `json` or `base64` key"))?;
        let bytes = match key.as_str() {
            "json" => {
                let raw: Box<serde_json::value::RawValue> = map.next_value()?;
                raw.get().as_bytes().to_vec()
            }
            "base64" => {
                let text: String = map.next_value()?;
                BASE64
                    .decode(text.as_bytes())
                    .map_err(|e| A::Error::custom(format!("payload base64: {e}")))?
            }
            other => {
                return Err(A::Error::custom(format!(
                    "unknown payload form `{other}` (expected `json` or `base64`)"
                )));
            }
        };
        if map.next_key::<String>()?.is_some() {
            return Err(A::Error::custom("a payload object has exactly one key"));
        }
        Ok(Payload(bytes))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        Ok(Payload(bytes))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Payload, E> {
        Ok(Payload(v.to_vec()))
    }
}

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

impl Payload {
    /// A payload holding `value` encoded as JSON.
    pub fn json(value: &serde_json::Value) -> Payload {
        Payload(serde_json::to_vec(value).expect("a JSON value always serializes"))
    }

    /// The payload as a JSON value: parsed when it is JSON, otherwise a string describing the
    /// bytes.
    pub fn to_json(&self) -> serde_json::Value {
        match serde_json::from_slice(&self.0) {
            Ok(v) => v,
            Err(_) => serde_json::Value::String(format!("<{} bytes, not JSON>", self.0.len())),
        }
    }

    /// The payload as raw JSON text when its bytes are exactly one JSON text (no surrounding
    /// whitespace), so writing it verbatim into a JSON document keeps every byte.
    fn as_raw_json(&self) -> Option<Box<serde_json::value::RawValue>> {
        let text = std::str::from_utf8(&self.0).ok()?;
        let raw = serde_json::value::RawValue::from_string(text.to_string()).ok()?;
        (raw.get() == text).then_some(raw)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the payload holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) if s.len() <= 200 => write!(f, "{s}"),
            Ok(s) => write!(
                f,
                "{}... ({} bytes)",
                &s[..s.floor_char_boundary(200)],
                s.len()
            ),
            Err(_) => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

/// An error reported by a workflow or an activity.
///
/// ```
/// use weft_core::history::Failure;
/// let f = Failure::new("CardDeclined", "insufficient funds").non_retryable();
/// assert!(f.non_retryable && f.details.is_none());
/// assert_eq!(f.to_string(), "CardDeclined: insufficient funds");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Machine-readable type, matched by retry policies.
    pub error_type: String,
    /// Human-readable message.
    pub message: String,
    /// Optional structured details.
    pub details: Option<Payload>,
    /// The failure must not be retried.
    pub non_retryable: bool,
}

impl Failure {
    /// A retryable failure of `error_type` with `message`.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
            non_retryable: false,
        }
    }

    /// The same failure marked non-retryable.
    pub fn non_retryable(mut self) -> Failure {
        self.non_retryable = true;
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for Failure {}

/// How an activity is retried. Defaults follow Temporal's server defaults.
///
/// ```
/// use weft_core::history::{Failure, RetryPolicy};
/// let policy = RetryPolicy { maximum_attempts: 5, ..RetryPolicy::default() };
/// assert_eq!(policy.delay_before(2), 1_000); // the first retry waits the initial interval
/// assert_eq!(policy.delay_before(4), 4_000); // then the delay doubles
/// let flaky = Failure::new("ConnectionReset", "the database went away");
/// assert!(policy.may_retry(4, &flaky) && !policy.may_retry(5, &flaky));
/// assert!(RetryPolicy { backoff_coefficient: 0.5, ..policy }.checked().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Delay before the first retry, in milliseconds.
    pub initial_interval_ms: u64,
    /// Multiplier applied to the delay after each retry.
    pub backoff_coefficient: f64,
    /// Upper bound of the delay, in milliseconds.
    pub maximum_interval_ms: u64,
    /// Attempts in all; 0 means unlimited.
    pub maximum_attempts: u32,
    /// Error types that are never retried.
    pub non_retryable_error_types: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            maximum_interval_ms: 100_000,
            maximum_attempts: 0,
            non_retryable_error_types: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `next_attempt` (2 for the first retry): initial x coefficient^(n-2),
    /// capped at the maximum interval.
    pub fn delay_before(&self, next_attempt: u32) -> u64 {
        let exp = next_attempt.saturating_sub(2) as i32;
        let raw = self.initial_interval_ms as f64 * self.backoff_coefficient.powi(exp);
        let cap = self.maximum_interval_ms.max(self.initial_interval_ms) as f64;
        raw.min(cap).max(0.0) as u64
    }

    /// The policy with Temporal's meaning of zero filled in (initial interval 0: the default
    /// 1 s; maximum interval 0: 100 x the initial one), or why it is invalid (Temporal's
    /// checks of a retry policy).
    pub fn checked(&self) -> Result<RetryPolicy, String> {
        if !(self.backoff_coefficient.is_finite() && self.backoff_coefficient >= 1.0) {
            return Err(format!(
                "the retry policy's backoff-coefficient must be at least 1, not {}",
                self.backoff_coefficient
            ));
        }
        let initial = match self.initial_interval_ms {
            0 => RetryPolicy::default().initial_interval_ms,
            v => v,
        };
        if self.maximum_interval_ms != 0 && self.maximum_interval_ms < initial {
            return Err(format!(
                "the retry policy's maximum-interval-ms ({}) is below its initial-interval-ms ({initial})",
                self.maximum_interval_ms
            ));
        }
        Ok(RetryPolicy {
            initial_interval_ms: initial,
            maximum_interval_ms: match self.maximum_interval_ms {
                0 => initial.saturating_mul(100),
                v => v,
            },
            ..self.clone()
        })
    }

    /// Whether a failure of attempt `attempt` may be retried under this policy.
    pub fn may_retry(&self, attempt: u32, failure: &Failure) -> bool {
        if failure.non_retryable || self.non_retryable_error_types.contains(&failure.error_type) {
            return false;
        }
        self.maximum_attempts == 0 || attempt < self.maximum_attempts
    }
}
