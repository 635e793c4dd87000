//! A scripted HTTP/1.1 server on 127.0.0.1 for the network tests: each
//! connection's request head is recorded, and a handler writes whatever raw
//! bytes the test wants (honest answers, redirects, floods, silence). It
//! stops accepting when dropped; connection threads end on their own when
//! the peer goes away or after a read timeout.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Writes the answer to one request, given its head (request line and
/// headers, CRLFs included).
pub type Handler = dyn Fn(&str, &mut TcpStream) + Send + Sync + 'static;

pub struct Server {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let heads: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (h, s) = (heads.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let (h, handler) = (h.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let Some(head) = read_head(&mut conn) else {
                        return;
                    };
                    h.lock().unwrap().push(head.clone());
                    handler(&head, &mut conn);
                });
            }
        });
        Server { addr, heads, stop }
    }

    /// A server answering every request with 200 and `body` as text/html.
    pub fn html(body: &'static str) -> Self {
        Server::start(move |_, c| respond(c, "200 OK", "text/html", body))
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `host:port`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Request heads received so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" || head.len() > 64 * 1024 {
            return Some(head);
        }
    }
}

/// Write a complete response with a `Content-Length`.
pub fn respond(c: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Write a redirect to `location`.
pub fn redirect(c: &mut TcpStream, status: &str, location: &str) {
    let _ = write!(
        c,
        "HTTP/1.1 {status}\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
}

/// The value of header `name` in a recorded head, if present.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The request target of a recorded head (`GET /x HTTP/1.1` → `/x`).
pub fn target(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("")
}
