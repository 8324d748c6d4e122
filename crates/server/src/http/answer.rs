//! Answers and request bodies: the one place errors become HTTP ([`ApiError`]: one function,
//! [`ApiError::status`], picks the status; every error body is `{"error": "..."}`), bounded body
//! reads, and the header names the routes read. Every answer body is a [`crate::wire`] type.

use super::MAX_BODY;
use super::conn::BodyError;
use crate::wire::ErrorAnswer;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::header::{
    ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue,
    RETRY_AFTER,
};
use hyper::{Response, StatusCode};
use mo2fa_core::store::Unavailable;
use serde::Serialize;

pub(super) type Resp = Response<Full<Bytes>>;

/// Why a request was not answered with its success. Each variant is one kind of problem; the
/// message names it for the client. [`ApiError::status`] is the one place a problem gets its
/// HTTP status, and [`ApiError::response`] the one place its answer is built.
#[derive(Debug)]
pub(super) enum ApiError {
    /// 400: the body or a header is malformed, or disagrees with itself.
    BadRequest(String),
    /// 401: the webhook signature is missing, stale or wrong.
    Unauthorized(String),
    /// 403: a rule forbids this destination outright.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 405, with `Allow`.
    MethodNotAllowed(&'static str),
    /// 408, closing the connection: the request was not received in time.
    Timeout(String),
    /// 413: the body is larger than [`MAX_BODY`].
    TooLarge,
    /// 415: the route reads JSON only.
    NotJson,
    /// 422: well-formed, but a value is out of range or invalid.
    Invalid(String),
    /// 429 with `Retry-After` (whole seconds, rounded up): a limit refused it for now.
    RateLimited { message: String, retry_ms: u64 },
    /// 503 with `Retry-After: 5`: the store is full (or the code space crowded); retry later.
    Full(String),
    /// 503 with `Retry-After: 1`: the store is down or slow; no decision is known.
    Unavailable(Unavailable),
}

impl ApiError {
    /// The status each kind of problem is answered with.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Full(_) | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn message(self) -> String {
        match self {
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::Timeout(m)
            | Self::Invalid(m)
            | Self::Full(m)
            | Self::RateLimited { message: m, .. } => m,
            Self::MethodNotAllowed(allow) => format!("method not allowed; use {allow}"),
            Self::TooLarge => format!("request body exceeds {MAX_BODY} bytes"),
            Self::NotJson => "content-type must be application/json".into(),
            Self::Unavailable(e) => e.to_string(),
        }
    }

    /// The answer: `{"error": "..."}` under [`ApiError::status`], with the headers the status
    /// promises (`Allow`, `Retry-After`, `Connection: close`).
    pub(super) fn response(self) -> Resp {
        let status = self.status();
        let extra = match &self {
            Self::MethodNotAllowed(allow) => Some((ALLOW, HeaderValue::from_static(allow))),
            Self::Timeout(_) => Some((CONNECTION, HeaderValue::from_static("close"))),
            Self::RateLimited { retry_ms, .. } => {
                let secs = retry_ms.div_ceil(1000).max(1);
                Some((RETRY_AFTER, HeaderValue::from(secs)))
            }
            Self::Full(_) => Some((RETRY_AFTER, HeaderValue::from_static("5"))),
            Self::Unavailable(_) => Some((RETRY_AFTER, HeaderValue::from_static("1"))),
            _ => None,
        };
        let mut r = json_response(
            status,
            &ErrorAnswer {
                error: self.message(),
            },
        );
        if let Some((name, value)) = extra {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

impl From<ApiError> for Resp {
    fn from(e: ApiError) -> Self {
        e.response()
    }
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> Self {
        Self::Unavailable(e)
    }
}

pub(super) fn json_response(status: StatusCode, body: &impl Serialize) -> Resp {
    // The wire types serialize infallibly (strings, numbers, enums).
    json_bytes(
        status,
        serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// `body` is taken as it is; one whose capacity is its length (as [`crate::wire::receive_answer`]
/// writes it) becomes the answer's `Bytes` without another allocation.
pub(super) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// The [`ApiError`] answer of `status`, for the `/sms/*` routes, which name their status: the
/// same `{"error": "..."}` with the same headers. New code builds an [`ApiError`] instead.
pub(super) fn error(status: StatusCode, msg: impl std::fmt::Display) -> Resp {
    let m = msg.to_string();
    match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(m),
        StatusCode::FORBIDDEN => ApiError::Forbidden(m),
        StatusCode::NOT_FOUND => ApiError::NotFound(m),
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout(m),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Invalid(m),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Full(m),
        _ => ApiError::BadRequest(m),
    }
    .response()
}

/// 429 with `Retry-After` in whole seconds, rounded up.
pub(super) fn too_many(message: String, retry_ms: u64) -> Resp {
    ApiError::RateLimited { message, retry_ms }.response()
}

/// The API description, checked in at the repository root.
pub(super) const OPENAPI: &str = include_str!("../../../../openapi.yaml");

pub(super) fn openapi() -> Resp {
    let mut r = Response::new(Full::new(Bytes::from_static(OPENAPI.as_bytes())));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/yaml"));
    r
}

pub(super) fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    // The usual spelling needs no parse.
    if value.as_bytes() == b"application/json" {
        return true;
    }
    Some(value)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Takes a parsed name: looking up by `&str` would parse and lower-case the name on every
/// request, which showed up in the webhook's profile.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(super) static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
pub(super) static X_BLOOIO_MESSAGE_ID: HeaderName = HeaderName::from_static("x-blooio-message-id");

/// The headers a webhook delivery is read by, found in one pass over the request's headers:
/// each [`header`] lookup hashes the name it looks for, and a delivery reads up to six.
/// Each field is what [`header`] answers for its name (the first value, if it is text).
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct WebhookHeaders<'a> {
    pub x_blooio_signature: Option<&'a str>,
    pub blooio_signature: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub webhook_timestamp: Option<&'a str>,
    pub webhook_signature: Option<&'a str>,
    pub x_blooio_event: Option<&'a str>,
    pub x_blooio_message_id: Option<&'a str>,
    pub x_blooio_replay: Option<&'a str>,
    pub x_original_event_id: Option<&'a str>,
}

impl<'a> WebhookHeaders<'a> {
    pub(super) fn scan(headers: &'a HeaderMap) -> Self {
        let mut out = Self::default();
        // Only a name's first value counts, as for `HeaderMap::get`.
        let mut seen = 0u16;
        for (name, value) in headers {
            let (bit, field) = match name.as_str() {
                "x-blooio-signature" => (0, &mut out.x_blooio_signature),
                "blooio-signature" => (1, &mut out.blooio_signature),
                "webhook-id" => (2, &mut out.webhook_id),
                "webhook-timestamp" => (3, &mut out.webhook_timestamp),
                "webhook-signature" => (4, &mut out.webhook_signature),
                "x-blooio-event" => (5, &mut out.x_blooio_event),
                "x-blooio-message-id" => (6, &mut out.x_blooio_message_id),
                "x-blooio-replay" => (7, &mut out.x_blooio_replay),
                "x-original-event-id" => (8, &mut out.x_original_event_id),
                _ => continue,
            };
            if seen & (1 << bit) == 0 {
                seen |= 1 << bit;
                *field = value.to_str().ok();
            }
        }
        out
    }
}

/// Parses a JSON object. serde would also fill a struct from an array, positionally; an API
/// that documents objects must not accept `[null, null]`.
pub(super) fn parse_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::BadRequest(
            "invalid JSON: the body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("invalid JSON: {e}")))
}

/// Reads a body of at most [`MAX_BODY`] bytes, refusing early on a declared larger length.
///
/// Stops as soon as the body says it has ended (a `Content-Length` body is complete after its
/// last byte, without another poll), and a body that arrives as one chunk is returned as that
/// chunk, uncopied: the common webhook is a single small frame. A body past its request's
/// deadline ([`Deadlined`](super::conn::Deadlined)) is answered 408 and the connection closed.
pub(super) async fn read_body<B>(headers: &HeaderMap, body: B) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + 'static,
{
    let declared = header(headers, &CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(ApiError::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|e| {
            if let Some(BodyError::TimedOut(_)) = (&e as &dyn std::error::Error).downcast_ref() {
                return ApiError::Timeout(e.to_string());
            }
            ApiError::BadRequest(format!("could not read body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing this API reads
        };
        let so_far = joined.as_ref().map_or(first.len(), BytesMut::len);
        if so_far + data.len() > MAX_BODY {
            return Err(ApiError::TooLarge);
        }
        match &mut joined {
            Some(all) => all.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut all = BytesMut::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                joined = Some(all);
            }
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_over_the_headers_finds_what_each_lookup_finds() {
        let names = [
            "x-blooio-signature",
            "blooio-signature",
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "x-blooio-event",
            "x-blooio-message-id",
            "x-blooio-replay",
            "x-original-event-id",
        ]
        .map(HeaderName::from_static);
        let names = &names;
        let looked_up = |h: &HeaderMap| names.each_ref().map(|n| header(h, n).map(str::to_owned));
        let scanned = |h: &HeaderMap| {
            let w = WebhookHeaders::scan(h);
            [
                w.x_blooio_signature,
                w.blooio_signature,
                w.webhook_id,
                w.webhook_timestamp,
                w.webhook_signature,
                w.x_blooio_event,
                w.x_blooio_message_id,
                w.x_blooio_replay,
                w.x_original_event_id,
            ]
            .map(|v| v.map(str::to_owned))
        };
        // Each name alone, twice (only the first value counts), not text first, and all
        // together among others.
        for (i, name) in names.iter().enumerate() {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            h.append(
                name.clone(),
                HeaderValue::from_str(&format!("v{i}")).unwrap(),
            );
            h.append(name.clone(), HeaderValue::from_static("second"));
            assert_eq!(scanned(&h), looked_up(&h), "{name}");
            assert_eq!(scanned(&h)[i].as_deref(), Some(format!("v{i}").as_str()));
            let mut h = HeaderMap::new();
            h.append(name.clone(), HeaderValue::from_bytes(b"\xff").unwrap());
            h.append(name.clone(), HeaderValue::from_static("text"));
            assert_eq!(scanned(&h), looked_up(&h), "{name}");
            assert_eq!(
                scanned(&h)[i],
                None,
                "{name}: a first value that is not text"
            );
        }
        let mut all = HeaderMap::new();
        all.insert(CONTENT_LENGTH, HeaderValue::from_static("12"));
        for (i, name) in names.iter().enumerate().rev() {
            all.insert(
                name.clone(),
                HeaderValue::from_str(&format!("x{i}")).unwrap(),
            );
        }
        assert_eq!(scanned(&all), looked_up(&all));
        assert!(scanned(&all).iter().all(Option::is_some));
        assert_eq!(scanned(&HeaderMap::new()), looked_up(&HeaderMap::new()));
    }
    use crate::http::conn::Deadlined;
    use hyper::body::Frame;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, Instant};

    /// A body that yields the given frames (or an error in their place), then ends, and
    /// does not know its end in advance: `read_body` must then stop on `None`.
    struct Frames(VecDeque<Result<Frame<Bytes>, std::io::Error>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    fn data(chunks: &[&[u8]]) -> Frames {
        Frames(
            chunks
                .iter()
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect(),
        )
    }

    /// The body read, or the error answer's status and text.
    fn read(body: Frames) -> Result<Bytes, (StatusCode, String)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("rt");
        rt.block_on(async {
            match read_body(&HeaderMap::new(), body).await {
                Ok(b) => Ok(b),
                Err(e) => {
                    let r = e.response();
                    let status = r.status();
                    let text = r.into_body().collect().await.expect("full").to_bytes();
                    Err((status, String::from_utf8_lossy(&text).into_owned()))
                }
            }
        })
    }

    #[test]
    fn chunks_are_joined_in_order_and_trailers_skipped() {
        let mut body = data(&[b"{\"a\":", b"", b"1", b"}"]);
        body.0.push_back(Ok(Frame::trailers(HeaderMap::new())));
        assert_eq!(read(body).expect("read"), Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(read(data(&[])).expect("read"), Bytes::new());
    }

    #[test]
    fn a_single_chunk_is_passed_on_uncopied() {
        let chunk = Bytes::from_static(b"{\"event\":\"message.received\"}");
        let body = Frames(VecDeque::from([Ok(Frame::data(chunk.clone()))]));
        assert_eq!(read(body).expect("read").as_ptr(), chunk.as_ptr());
    }

    #[test]
    fn the_limit_counts_all_chunks() {
        let half = vec![b'x'; MAX_BODY / 2];
        assert_eq!(
            read(data(&[&half, &half]))
                .expect("exactly the limit")
                .len(),
            MAX_BODY
        );
        let (status, text) = read(data(&[&half, &half, b"y"])).expect_err("over");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(text.contains("exceeds 65536 bytes"), "{text}");
    }

    #[test]
    fn a_failing_body_is_a_400_naming_the_cause() {
        let body = Frames(VecDeque::from([
            Ok(Frame::data(Bytes::from_static(b"{"))),
            Err(std::io::Error::other("connection reset")),
        ]));
        let (status, text) = read(body).expect_err("failed");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            text.contains("could not read body: connection reset"),
            "{text}"
        );
    }

    /// A body that never yields a frame: a client that sent its headers and stalled.
    struct Stalled;

    impl Body for Stalled {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    #[test]
    fn a_body_past_its_deadline_is_a_408_that_closes_the_connection() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        let r = rt.block_on(async {
            let timeout = Duration::from_millis(30);
            let body = Deadlined::new(Stalled, Instant::now() + timeout, timeout);
            read_body(&HeaderMap::new(), body)
                .await
                .expect_err("timed out")
                .response()
        });
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers().get(CONNECTION).unwrap(), "close");
        // A body that is ready is read whatever the deadline (no timer is even set up).
        let read = rt.block_on(async {
            let past = Instant::now() - Duration::from_millis(1);
            let body = Deadlined::new(data(&[b"{}"]), past, Duration::ZERO);
            read_body(&HeaderMap::new(), body).await
        });
        assert_eq!(read.expect("ready body"), Bytes::from_static(b"{}"));
    }
}
