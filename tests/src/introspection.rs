//! An OAuth 2.0 introspection endpoint (RFC 7662) on loopback, for the `token-introspection`
//! sample served by pluginhost: plain HTTP, connections kept open, every request answered with
//! the same claims, and counted.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread,
};

/// A running endpoint; it serves until the process ends.
pub struct Endpoint {
    /// Its URL, for the plugin's `introspection_url`.
    pub url: String,
    asked: Arc<AtomicU64>,
}

impl Endpoint {
    /// An endpoint answering every request `200` with `claims` (a JSON object).
    pub fn answering(claims: &'static str) -> std::io::Result<Endpoint> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/introspect", listener.local_addr()?);
        let asked = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&asked);
        let mut response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
            claims.len()
        )
        .into_bytes();
        response.extend_from_slice(claims.as_bytes());
        let response: Arc<[u8]> = response.into();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counter, response) = (Arc::clone(&counter), Arc::clone(&response));
                thread::spawn(move || {
                    let _ = stream.set_nodelay(true);
                    let mut reader = BufReader::new(stream);
                    while let Some(length) = request_length(&mut reader) {
                        if reader.read_exact(&mut vec![0; length]).is_err()
                            || reader.get_mut().write_all(&response).is_err()
                        {
                            return;
                        }
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        Ok(Endpoint { url, asked })
    }

    /// Requests answered so far.
    pub fn asked(&self) -> u64 {
        self.asked.load(Ordering::Relaxed)
    }
}

/// Reads one request's head; its body's length, or `None` at the end of the connection.
fn request_length(reader: &mut impl BufRead) -> Option<usize> {
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            return Some(length);
        }
        if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = n.trim().parse().unwrap_or(0);
        }
    }
}
