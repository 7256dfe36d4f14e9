//! The channel pipe clients call through: tonic's [`Channel`], with expired
//! deadlines reported as gRPC reports them everywhere else.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http::HeaderValue;
use http::header::{HeaderMap, HeaderName};
use tonic::body::Body;
use tonic::transport::Channel;
use tower_service::Service;

use crate::replay::Replay;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A constant name: looking it up needs no parsing.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";

/// A channel to a gRPC server on a pipe, from [`PipeEndpoint`](crate::PipeEndpoint):
/// tonic's [`Channel`] (cheap to clone, multiplexing calls over one HTTP/2
/// connection, reconnecting after the server restarts), usable wherever a
/// generated client takes one: `MyServiceClient::new(channel)`.
///
/// One difference: a call whose deadline passes fails with
/// [`Code::DeadlineExceeded`](tonic::Code::DeadlineExceeded), as the gRPC
/// spec and every other implementation have it. tonic alone reports
/// `Cancelled` both when its own timer fires and when a tonic server gives
/// up on the deadline; `PipeChannel` reports either as `DeadlineExceeded`
/// (a `Cancelled` status counts only if it arrives after the deadline).
/// Deadlines come from `Request::set_timeout` (the `grpc-timeout` header)
/// and from [`Endpoint::timeout`](tonic::transport::Endpoint::timeout); like
/// tonic's, they cover the call until the response starts, not a stream
/// that follows.
///
/// And one addition: a call that a dead connection turned away before
/// sending any of it (the server restarted and the client had not noticed
/// yet) is sent again, once, on a new connection, with what is left of its
/// deadline; gRPC calls this a transparent retry. Nothing of such a call
/// reached a server, so it is safe for any call. Calls that were sent are
/// never retried: one written into the dead connection before the client
/// saw the hang-up fails with the transport error (a broken pipe), and the
/// next call reconnects. What is sent again is what goes to a server: the method,
/// URI, headers and body; the request's extensions, which stay in this
/// process and which nothing under tonic's `Channel` reads, are not kept.
///
/// ```
/// use std::time::Duration;
/// use pipeway_grpc::buy::{BuyRequest, my_service_client::MyServiceClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-grpc-channel-{}", std::process::id());
/// # let incoming = pipeway_grpc::PipeIncoming::bind(&name)?;
/// # tokio::spawn(
/// #     tonic::transport::Server::builder()
/// #         .add_service(pipeway_grpc::buy::my_service_server::MyServiceServer::new(pipeway_grpc::buy::Buyer))
/// #         .serve_with_incoming(incoming),
/// # );
/// let mut shop = MyServiceClient::new(pipeway_grpc::connect(&name).await?);
/// let mut request = tonic::Request::new(BuyRequest { id: "apple".into(), quantity: 3, price: 120 });
/// request.set_timeout(Duration::from_millis(200));
/// match shop.buy(request).await {
///     Ok(response) => println!("{}", response.into_inner().result),
///     Err(status) if status.code() == tonic::Code::DeadlineExceeded => println!("too slow"),
///     Err(status) => return Err(status.into()),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PipeChannel {
    inner: Channel,
    /// A handle for the rare call sent a second time: shared, so that a call
    /// on the way does not clone the channel (a clone of tonic's buffer
    /// allocates) for a retry that almost never happens.
    for_retry: Arc<Channel>,
    retry: bool,
}

impl PipeChannel {
    /// Wraps a tonic channel (one that reaches a pipe, or any other).
    pub fn new(inner: Channel) -> Self {
        Self {
            for_retry: Arc::new(inner.clone()),
            inner,
            retry: true,
        }
    }

    /// Whether calls a dead connection turned away unsent are sent again
    /// (default: yes). Keeping each call ready for a second attempt (a copy
    /// of its head, its body held back until sent) costs about 1,450
    /// instructions per call, and 0–6% of a unary call's time over a pipe in
    /// the project's benchmark; without it, such a call fails with
    /// `Cancelled` and the next call reconnects.
    pub fn transparent_retry(mut self, retry: bool) -> Self {
        self.retry = retry;
        self
    }

    /// The tonic channel underneath.
    pub fn as_channel(&self) -> &Channel {
        &self.inner
    }

    /// The tonic channel underneath, unwrapped (its deadlines read as tonic
    /// reports them).
    pub fn into_channel(self) -> Channel {
        self.inner
    }
}

impl From<PipeChannel> for Channel {
    fn from(channel: PipeChannel) -> Channel {
        channel.inner
    }
}

impl From<Channel> for PipeChannel {
    fn from(channel: Channel) -> PipeChannel {
        PipeChannel::new(channel)
    }
}

impl Service<http::Request<Body>> for PipeChannel {
    type Response = http::Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.inner, cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let deadline = grpc_timeout(request.headers()).and_then(|t| Instant::now().checked_add(t));
        if !self.retry {
            return ResponseFuture {
                state: State::First {
                    call: Service::call(&mut self.inner, request),
                    retry: None,
                },
                deadline,
            };
        }
        let (parts, body) = request.into_parts();
        let (replay, body) = if http_body::Body::is_end_stream(&body) {
            (None, body)
        } else {
            let (replay, stand_in) = Replay::new(body);
            (Some(replay), stand_in)
        };
        let head = Head::of(&parts);
        let call = Service::call(&mut self.inner, http::Request::from_parts(parts, body));
        ResponseFuture {
            state: State::First {
                call,
                retry: Some(Unsent {
                    channel: self.for_retry.clone(),
                    head,
                    replay,
                }),
            },
            deadline,
        }
    }
}

type Responding = Pin<Box<dyn Future<Output = Result<http::Response<Body>, BoxError>> + Send>>;

/// The response of a [`PipeChannel`] call.
pub struct ResponseFuture {
    state: State,
    deadline: Option<Instant>,
}

// Every call lives in the large first variant; boxing it would be the
// allocation per call this type exists to avoid.
#[allow(clippy::large_enum_variant)]
enum State {
    /// The call as first sent, and what sending it again takes.
    First {
        call: tonic::transport::channel::ResponseFuture,
        retry: Option<Unsent>,
    },
    /// Sent again (rare: boxed).
    Again(Responding),
    Done,
}

/// What a call sent again is made of.
struct Unsent {
    channel: Arc<Channel>,
    head: Head,
    replay: Option<Replay>,
}

/// What of a request goes to the server, kept for sending it again: all
/// but its extensions, which stay in this process and which nothing under
/// a tonic `Channel` reads (cloning them would cost every call two
/// allocations).
struct Head {
    method: http::Method,
    uri: http::Uri,
    version: http::Version,
    headers: HeaderMap,
}

impl Head {
    fn of(parts: &http::request::Parts) -> Self {
        Self {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            headers: parts.headers.clone(),
        }
    }

    fn into_request(self, body: Body) -> http::Request<Body> {
        let mut request = http::Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        request
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<http::Response<Body>, BoxError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match &mut this.state {
            State::First { call, retry } => match ready!(Pin::new(call).poll(cx)) {
                Err(err) if retry.is_some() && canceled_before_sending(&err) => {
                    // The connection died before it took the request (the
                    // server went away and the client had not noticed yet):
                    // nothing reached a server, so send it again, once,
                    // which reconnects. gRPC calls this a transparent retry.
                    let Unsent {
                        channel,
                        head,
                        replay,
                    } = retry.take().expect("checked above");
                    let body = match &replay {
                        None => Some(Body::empty()),
                        Some(replay) => replay.take_unsent(),
                    };
                    match body {
                        Some(body) => {
                            let mut channel = Channel::clone(&channel);
                            let deadline = this.deadline;
                            this.state = State::Again(Box::pin(async move {
                                retry_call(&mut channel, head.into_request(body), deadline).await
                            }));
                            return Pin::new(this).poll(cx);
                        }
                        None => Err(err.into()),
                    }
                }
                other => other.map_err(Into::into),
            },
            State::Again(call) => ready!(call.as_mut().poll(cx)),
            State::Done => panic!("a PipeChannel response polled after it completed"),
        };
        this.state = State::Done;
        Poll::Ready(finish(result, this.deadline))
    }
}

/// Sends a request again, with what is left of its deadline.
async fn retry_call(
    channel: &mut Channel,
    mut request: http::Request<Body>,
    deadline: Option<Instant>,
) -> Result<http::Response<Body>, BoxError> {
    if let Some(deadline) = deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Box::new(tonic::Status::deadline_exceeded(
                "the deadline passed before the server answered",
            )));
        }
        request
            .headers_mut()
            .insert(GRPC_TIMEOUT, encode_grpc_timeout(left));
    }
    tracing::debug!("retrying a call the closed connection never sent");
    std::future::poll_fn(|cx| Service::poll_ready(channel, cx)).await?;
    Ok(Service::call(channel, request).await?)
}

/// Reports an expired deadline as `DEADLINE_EXCEEDED`, whoever noticed it.
fn finish(
    result: Result<http::Response<Body>, BoxError>,
    deadline: Option<Instant>,
) -> Result<http::Response<Body>, BoxError> {
    match result {
        Ok(mut response) => {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                cancelled_to_deadline_exceeded(response.headers_mut());
            }
            Ok(response)
        }
        Err(err) if timed_out(&*err) => Err(Box::new(tonic::Status::deadline_exceeded(
            "the deadline passed before the server answered",
        ))),
        Err(err) => Err(err),
    }
}

/// Whether hyper turned the request away unsent because its connection had
/// closed (hyper's "canceled": the request never reached the connection).
fn canceled_before_sending(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if let Some(hyper) = err.downcast_ref::<hyper::Error>() {
            return hyper.is_canceled();
        }
        next = err.source();
    }
    false
}

/// Whether an error is tonic's client timer firing.
fn timed_out(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(err) = next {
        if err.is::<tonic::TimeoutExpired>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// Turns a `CANCELLED` status in a trailers-only response into
/// `DEADLINE_EXCEEDED`: what a tonic server answers when the deadline passes.
fn cancelled_to_deadline_exceeded(headers: &mut HeaderMap) {
    let cancelled = (tonic::Code::Cancelled as i32).to_string();
    if headers
        .get(GRPC_STATUS)
        .is_some_and(|s| s == cancelled.as_str())
    {
        let exceeded = (tonic::Code::DeadlineExceeded as i32).to_string();
        headers.insert(
            GRPC_STATUS,
            HeaderValue::from_str(&exceeded).expect("a number is a header value"),
        );
        headers.insert(
            GRPC_MESSAGE,
            HeaderValue::from_static("deadline exceeded: the server gave up at the deadline"),
        );
    }
}

/// A `grpc-timeout` header value for `left`, in the finest unit whose
/// count fits the header's 8 digits.
fn encode_grpc_timeout(left: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let value = [
        (left.as_nanos(), 'n'),
        (left.as_micros(), 'u'),
        (left.as_millis(), 'm'),
        (u128::from(left.as_secs()), 'S'),
        (u128::from(left.as_secs() / 60), 'M'),
    ]
    .into_iter()
    .find(|(count, _)| *count <= MAX)
    .map_or_else(
        || format!("{}H", (left.as_secs() / 3600).min(MAX as u64)),
        |(count, unit)| format!("{count}{unit}"),
    );
    HeaderValue::from_str(&value).expect("digits and a unit are a header value")
}

/// The `grpc-timeout` header: 1 to 8 digits and a unit (`H`, `M`, `S`, `m`,
/// `u`, `n`). `None` when absent or malformed (tonic then ignores it too).
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn grpc_timeout_reads_every_unit() {
        let cases = [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("4S", Duration::from_secs(4)),
            ("250m", Duration::from_millis(250)),
            ("99999999u", Duration::from_micros(99_999_999)),
            ("7n", Duration::from_nanos(7)),
        ];
        for (value, expected) in cases {
            assert_eq!(
                grpc_timeout(&headers(&[("grpc-timeout", value)])),
                Some(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn grpc_timeout_rejects_malformed_values() {
        for value in ["", "m", "5", "5x", "123456789m", "-5m", "5 m", "5mm"] {
            let map = match HeaderValue::from_str(value) {
                Ok(v) => {
                    let mut map = HeaderMap::new();
                    map.insert(GRPC_TIMEOUT, v);
                    map
                }
                Err(_) => continue,
            };
            assert_eq!(grpc_timeout(&map), None, "{value:?}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn grpc_timeout_round_trips_through_the_header() {
        for left in [
            Duration::from_nanos(5),
            Duration::from_micros(1500),
            Duration::from_millis(250),
            Duration::from_secs(2),
            Duration::from_secs(3 * 86_400),
        ] {
            let mut map = HeaderMap::new();
            map.insert(GRPC_TIMEOUT, encode_grpc_timeout(left));
            let read = grpc_timeout(&map).expect("a valid header");
            // Coarser units round down, never up.
            assert!(
                read <= left && left - read < Duration::from_secs(60),
                "{left:?} -> {read:?}"
            );
        }
    }

    #[test]
    fn only_cancelled_becomes_deadline_exceeded() {
        let mut cancelled = headers(&[(GRPC_STATUS, "1"), (GRPC_MESSAGE, "Timeout expired")]);
        cancelled_to_deadline_exceeded(&mut cancelled);
        let status = tonic::Status::from_header_map(&cancelled).unwrap();
        assert_eq!(status.code(), tonic::Code::DeadlineExceeded);

        let mut unavailable = headers(&[(GRPC_STATUS, "14")]);
        cancelled_to_deadline_exceeded(&mut unavailable);
        assert_eq!(unavailable.get(GRPC_STATUS).unwrap(), "14");

        let mut ok = HeaderMap::new();
        cancelled_to_deadline_exceeded(&mut ok);
        assert!(ok.get(GRPC_STATUS).is_none());
    }

    #[test]
    fn the_client_timer_is_found_in_an_error_chain() {
        #[derive(Debug)]
        struct Outer(tonic::TimeoutExpired);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert!(timed_out(&Outer(tonic::TimeoutExpired(()))));
        assert!(!timed_out(&std::io::Error::other("no")));
    }
}
