//! `GET /metrics` over HTTP/1.1, on a TCP address (loopback unless told otherwise) or a Unix
//! socket: the Prometheus text format, or OpenMetrics when the scraper's `Accept` asks for it.
//!
//! It runs on the main thread's runtime, never on a worker: each connection is a task of its
//! own, so a scraper that stalls holds only its connection, and only for [`CONNECTION_TIME`].
//! At most [`MAX_SCRAPERS`] connections are served at once; more are closed at once.

use std::{
    convert::Infallible,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    os::{fd::OwnedFd, unix::fs::PermissionsExt},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header,
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::Semaphore,
};

use super::Metrics;

/// Connections served at once; Prometheus uses one per target.
pub const MAX_SCRAPERS: usize = 32;

/// How long one connection may last, keep-alive included: a scraper that stops reading is
/// dropped then.
pub const CONNECTION_TIME: Duration = Duration::from_secs(10);

/// The time a scraper gets to send its request headers.
const HEADER_TIME: Duration = Duration::from_secs(5);

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Where the endpoint listens (`-metrics-listen`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `HOST:PORT`; a bare `PORT` or `:PORT` is on 127.0.0.1.
    Tcp(SocketAddr),
    /// A path (it holds a `/`): a Unix socket, mode 0600.
    Unix(PathBuf),
}

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.contains('/') {
            return Ok(Listen::Unix(PathBuf::from(text)));
        }
        let port = text.strip_prefix(':').unwrap_or(text);
        if let Ok(port) = port.parse::<u16>() {
            return Ok(Listen::Tcp(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
            )));
        }
        text.parse::<SocketAddr>().map(Listen::Tcp).map_err(|_| {
            format!(
                "{text:?} is neither HOST:PORT, PORT nor a socket path (one with a '/'), \
                 e.g. 127.0.0.1:9542 or /run/pluginhost-metrics.sock"
            )
        })
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(address) => address.fmt(f),
            Listen::Unix(path) => path.display().fmt(f),
        }
    }
}

/// The listening endpoint; a Unix socket's file is removed when it is dropped.
pub struct Bound {
    /// What it listens on, as the log line shows it.
    pub address: String,
    unix: Option<PathBuf>,
    listener: OwnedFd,
}

impl Bound {
    /// A copy of the listening socket, for the supervisor to hand the next engine.
    pub fn listener(&self) -> std::io::Result<OwnedFd> {
        self.listener.try_clone()
    }

    /// Leaves the socket file in place: another engine serves on it.
    pub fn keep_file(mut self) {
        self.unix = None;
    }
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds `listen` (or serves on `given`, its socket from the engine before this one) and
/// serves `metrics` on it from tasks of the current runtime.
pub fn start(
    listen: &Listen,
    metrics: &'static Metrics,
    given: Option<&OwnedFd>,
) -> std::io::Result<Bound> {
    let given = given.map(OwnedFd::try_clone).transpose()?;
    match listen {
        Listen::Tcp(address) => {
            let socket = match given {
                Some(fd) => std::net::TcpListener::from(fd),
                None => std::net::TcpListener::bind(address)?,
            };
            socket.set_nonblocking(true)?;
            let address = socket.local_addr()?.to_string();
            let listener = OwnedFd::from(socket.try_clone()?);
            spawn_accepting(tokio::net::TcpListener::from_std(socket)?, metrics);
            Ok(Bound {
                address,
                unix: None,
                listener,
            })
        }
        Listen::Unix(path) => {
            let socket = match given {
                Some(fd) => std::os::unix::net::UnixListener::from(fd),
                None => {
                    // A socket file left by a server that is gone; a live one would be
                    // refused by the Kong socket's own check long before this.
                    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
                        std::fs::remove_file(path)?;
                    }
                    let socket = std::os::unix::net::UnixListener::bind(path)?;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                    socket
                }
            };
            socket.set_nonblocking(true)?;
            let listener = OwnedFd::from(socket.try_clone()?);
            spawn_accepting(tokio::net::UnixListener::from_std(socket)?, metrics);
            Ok(Bound {
                address: path.display().to_string(),
                unix: Some(path.clone()),
                listener,
            })
        }
    }
}

/// A listening socket of either kind.
trait Accept: Send + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    fn accept_one(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;

    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Accepts scrapers on `socket` for as long as the runtime runs.
fn spawn_accepting(socket: impl Accept, metrics: &'static Metrics) {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPERS));
    tokio::spawn(async move {
        loop {
            match socket.accept_one().await {
                Ok(stream) => serve(stream, metrics, &slots),
                Err(e) => pause(e).await,
            }
        }
    });
}

/// After a failed accept (EMFILE and friends): wait a little rather than spin.
async fn pause(e: std::io::Error) {
    tracing::warn!("metrics endpoint: accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Serves one scraper's connection in a task of its own, if a slot is free.
fn serve<S>(stream: S, metrics: &'static Metrics, slots: &Arc<Semaphore>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Ok(slot) = Arc::clone(slots).try_acquire_owned() else {
        tracing::debug!("metrics endpoint: {MAX_SCRAPERS} scrapers connected; closing another");
        return;
    };
    tokio::spawn(async move {
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIME)
            .serve_connection(
                TokioIo::new(stream),
                service_fn(move |request| answer(request, metrics)),
            );
        match tokio::time::timeout(CONNECTION_TIME, connection).await {
            Ok(Err(e)) => tracing::debug!("metrics endpoint: {e}"),
            Err(_) => tracing::debug!("metrics endpoint: closing a connection open too long"),
            Ok(Ok(())) => {}
        }
        drop(slot);
    });
}

async fn answer(
    request: Request<Incoming>,
    metrics: &'static Metrics,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, text: &'static str| {
        let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
        *response.status_mut() = status;
        response
    };
    if request.uri().path() != "/metrics" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "pluginhost serves its metrics at /metrics\n",
        ));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = reply(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only\n");
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
        return Ok(response);
    }
    let openmetrics = wants_openmetrics(request.headers().get(header::ACCEPT));
    let content_type = if openmetrics {
        OPENMETRICS
    } else {
        prometheus_client::encoding::prometheus_text::CONTENT_TYPE
    };
    let body = metrics.encode(openmetrics);
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    Ok(response)
}

/// Whether `Accept` lists OpenMetrics with a weight above zero (Prometheus lists it first).
fn wants_openmetrics(accept: Option<&header::HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|a| a.to_str().ok()) else {
        return false;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let kind = parts.next().unwrap_or("");
        let refused = parts.any(|p| p.replace(' ', "") == "q=0" || p == "q=0.0");
        kind.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let local = |port| Listen::Tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        assert_eq!("9542".parse(), Ok(local(9542)));
        assert_eq!(":9542".parse(), Ok(local(9542)));
        assert_eq!(
            "0.0.0.0:80".parse(),
            Ok(Listen::Tcp("0.0.0.0:80".parse().unwrap()))
        );
        assert_eq!(
            "/run/m.sock".parse(),
            Ok(Listen::Unix(PathBuf::from("/run/m.sock")))
        );
        let wrong = "localhost".parse::<Listen>().unwrap_err();
        assert!(wrong.contains("\"localhost\" is neither"), "{wrong}");
    }

    #[test]
    fn openmetrics_only_when_asked() {
        let accept =
            |text: &'static str| wants_openmetrics(Some(&header::HeaderValue::from_static(text)));
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
                          text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(accept(prometheus));
        assert!(!accept("text/plain"));
        assert!(!accept("application/openmetrics-text;q=0"));
        assert!(!wants_openmetrics(None));
    }
}
