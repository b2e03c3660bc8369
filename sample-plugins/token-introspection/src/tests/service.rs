//! A real introspection endpoint on loopback for the tests, over HTTP or HTTPS (with a
//! certificate authority and a certificate the test makes), answering as each test says and
//! counting what it was asked.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use rustls::{
    ServerConfig, ServerConnection, StreamOwned,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
};

/// One request the endpoint got.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    /// Its `authorization` header.
    pub authorization: Option<String>,
    /// Its form body.
    pub body: String,
}

/// What the endpoint answers.
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// How long it takes first.
    pub delay: Duration,
}

impl Reply {
    /// `200` with `body`, at once.
    pub fn json(body: plugin_abi::serde_json::Value) -> Reply {
        Reply {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

type Answer = dyn Fn(&Asked) -> Reply + Send + Sync;

/// A running endpoint.
pub struct Service {
    url: String,
    ca_file: Option<PathBuf>,
    asked: Arc<Mutex<Vec<Asked>>>,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Over plain HTTP.
    pub fn http(answer: impl Fn(&Asked) -> Reply + Send + Sync + 'static) -> Service {
        Service::start(None, Arc::new(answer))
    }

    /// Over HTTPS, with a certificate for 127.0.0.1 from a certificate authority made here
    /// (its PEM file: [`Service::ca_file`]).
    pub fn https(answer: impl Fn(&Asked) -> Reply + Send + Sync + 'static) -> Service {
        Service::start(Some(tls()), Arc::new(answer))
    }

    fn start(tls: Option<(ServerConfig, String)>, answer: Arc<Answer>) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let port = listener.local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let (scheme, ca_file, config) = match tls {
            None => ("http", None, None),
            Some((config, ca_pem)) => {
                let file = dir.path().join("ca.pem");
                std::fs::write(&file, ca_pem).unwrap();
                ("https", Some(file), Some(Arc::new(config)))
            }
        };
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&asked);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (answer, seen, config) =
                    (Arc::clone(&answer), Arc::clone(&seen), config.clone());
                thread::spawn(move || match config {
                    None => serve(stream, &*answer, &seen),
                    Some(config) => {
                        let tls = ServerConnection::new(config).expect("a TLS session");
                        serve(StreamOwned::new(tls, stream), &*answer, &seen);
                    }
                });
            }
        });
        Service {
            url: format!("{scheme}://127.0.0.1:{port}/introspect"),
            ca_file,
            asked,
            _dir: dir,
        }
    }

    /// The endpoint's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The PEM file of the certificate authority its certificate chains to (HTTPS only).
    pub fn ca_file(&self) -> &Path {
        self.ca_file.as_deref().expect("an HTTPS service")
    }

    /// Every request it got, in order.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().clone()
    }
}

/// The URL of an endpoint that is down: a port nothing listens on any more.
pub fn down() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/introspect")
}

/// A certificate authority, and a server certificate for 127.0.0.1 it signed: the server's
/// TLS configuration, and the authority's PEM.
fn tls() -> (ServerConfig, String) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    // ring is the one provider compiled in, as in ureq's client.
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    (config, ca.pem())
}

/// Answers the requests of one connection until the client closes it.
fn serve(stream: impl Read + Write, answer: &Answer, seen: &Mutex<Vec<Asked>>) {
    let mut stream = BufReader::new(stream);
    while let Some(asked) = read_request(&mut stream) {
        seen.lock().unwrap().push(asked.clone());
        let reply = answer(&asked);
        thread::sleep(reply.delay);
        let response = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
            reply.status,
            reply.body.len(),
            reply.body
        );
        let stream = stream.get_mut();
        if stream
            .write_all(response.as_bytes())
            .and_then(|()| stream.flush())
            .is_err()
        {
            return;
        }
    }
}

/// One request's `authorization` header and body; `None` at the end of the connection.
fn read_request(stream: &mut impl BufRead) -> Option<Asked> {
    let mut asked = Asked::default();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "authorization" => asked.authorization = Some(value.trim().to_owned()),
                "content-length" => length = value.trim().parse().ok()?,
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    asked.body = String::from_utf8_lossy(&body).into_owned();
    Some(asked)
}
