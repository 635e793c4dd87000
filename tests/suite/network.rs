//! Network grants against real HTTP servers on 127.0.0.1. The `netprobe`
//! guest sends raw `wasi:http` requests as a hostile plugin would; each
//! refusal is checked in what the guest saw, in the host's denial record,
//! on the server (nothing arrived), and by a granted request that still
//! works afterwards.

use super::common::{Fixture, call};
use super::netserver::{Server, header, redirect, respond, target};
use serde_json::{Value, json};
use std::io::Write;
use std::time::Duration;
use warden_core::capability::Denial;
use warden_core::runtime::{CallOutput, Prepared};

/// Send one probe; the call itself must complete with an answer.
async fn probe(p: &Prepared, input: Value) -> (Value, CallOutput) {
    let out = call(p, "request", input).await.expect("the call completes");
    let answer = match &out.result {
        Ok(v) => v.clone(),
        Err(e) => panic!("netprobe failed: {e:?}"),
    };
    (answer, out)
}

fn get(authority: &str, path: &str) -> Value {
    json!({"scheme": "http", "authority": authority, "path": path})
}

/// The refusal a probe got: the guest's error code and the host's one denial.
async fn refused(p: &Prepared, input: Value) -> (String, Denial) {
    let (answer, out) = probe(p, input).await;
    assert_eq!(answer["status"], Value::Null, "{answer}");
    let error = answer["error"].as_str().expect("an error code").to_string();
    assert_eq!(out.denials.len(), 1, "{:?}", out.denials);
    (error, out.denials[0].clone())
}

/// A granted request still works: the host answers after a refusal.
async fn still_answers(p: &Prepared, server: &Server) {
    let (answer, out) = probe(p, get(&server.authority(), "/ok")).await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert!(out.denials.is_empty());
}

#[tokio::test]
async fn a_granted_origin_is_reached_and_the_host_header_is_warden_s() {
    let server = Server::html("<p>hello</p>");
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    let (answer, out) = probe(&p, get(&server.authority(), "/page?q=1")).await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"], "<p>hello</p>");
    assert!(out.denials.is_empty());
    let heads = server.heads();
    assert_eq!(heads.len(), 1);
    assert_eq!(target(&heads[0]), "/page?q=1");
    assert_eq!(header(&heads[0], "host"), Some(server.authority().as_str()));
    let final_url = answer["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "warden-final-url")
        .map(|h| h[1].clone());
    assert_eq!(
        final_url,
        Some(json!(format!("{}/page?q=1", server.origin())))
    );
}

/// Issue 17: a plugin runs with any part of what it requests. With no
/// network granted, `wasi:http` is linked with no origins: the request is
/// refused before connecting, with the grant that would allow it, and the
/// plugin still answers (and works once granted).
#[tokio::test]
async fn a_plugin_without_a_network_grant_runs_and_every_request_is_denied() {
    let server = Server::html("ok");
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[]);
    assert!(p.effective().network.is_empty());
    let (error, d) = refused(&p, get(&server.authority(), "/ok")).await;
    assert_eq!(error, "HttpRequestDenied");
    assert_eq!(
        (d.capability, d.operation, d.resource.as_str()),
        (
            warden_core::capability::CapabilityKind::Network,
            "connect",
            server.origin().as_str()
        )
    );
    assert_eq!(d.reason, "no network grant covers this origin");
    assert_eq!(
        d.allow.as_deref(),
        Some(format!("net:{}", server.origin()).as_str())
    );
    assert!(server.heads().is_empty(), "nothing reached the server");
    let granted = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    still_answers(&granted, &server).await;
}

#[tokio::test]
async fn ungranted_hosts_ports_and_schemes_are_refused_before_connecting() {
    let server = Server::html("ok");
    let other = Server::html("other");
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    let port = server.port();

    // A name that is not granted: refused before any DNS query.
    let (error, d) = refused(&p, get(&format!("localhost:{port}"), "/")).await;
    assert_eq!(error, "HttpRequestDenied");
    assert_eq!(
        (d.capability, d.operation, d.resource.as_str()),
        (
            warden_core::capability::CapabilityKind::Network,
            "connect",
            format!("http://localhost:{port}").as_str()
        )
    );
    assert_eq!(d.reason, "no network grant covers this origin");
    assert_eq!(
        d.allow.as_deref(),
        Some(format!("net:http://localhost:{port}").as_str())
    );

    // Another port on the granted address.
    let (error, d) = refused(&p, get(&other.authority(), "/")).await;
    assert_eq!(error, "HttpRequestDenied");
    assert_eq!(d.resource, other.origin());
    assert_eq!(
        d.reason,
        format!(
            "port {} is not granted ({} is)",
            other.port(),
            server.origin()
        )
    );
    assert_eq!(
        d.allow.as_deref(),
        Some(format!("net:{}", other.origin()).as_str())
    );

    // The granted host and port, but https.
    let (error, d) = refused(
        &p,
        json!({"scheme": "https", "authority": server.authority()}),
    )
    .await;
    assert_eq!(error, "HttpRequestDenied");
    assert_eq!(d.resource, format!("https://{}", server.authority()));
    assert_eq!(
        d.reason,
        format!("127.0.0.1 is granted only as {}", server.origin())
    );

    assert!(server.heads().is_empty(), "{:?}", server.heads());
    assert!(other.heads().is_empty(), "{:?}", other.heads());
    still_answers(&p, &server).await;
}

#[tokio::test]
async fn every_spelling_of_loopback_is_refused_under_a_wildcard_grant() {
    let server = Server::html("ok");
    let f = Fixture::new();
    // Any host on any port, but no address grant: non-public addresses stay
    // out however they are written.
    let p = f.prepare("netprobe", &["net:http://*:*"]);
    let port = server.port();
    for host in [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0x7f.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
    ] {
        let (error, d) = refused(&p, get(&format!("{host}:{port}"), "/")).await;
        assert_eq!(error, "DestinationIpProhibited", "{host}");
        assert_eq!(
            d.resource,
            format!("http://127.0.0.1:{port}"),
            "{host} normalises to the address it means"
        );
        assert!(
            d.reason
                .starts_with("127.0.0.1 is a non-public address: loopback"),
            "{host}: {}",
            d.reason
        );
        assert_eq!(
            d.allow.as_deref(),
            Some(format!("net:http://127.0.0.1:{port}").as_str())
        );
    }
    // A name that resolves to loopback: a name grant never admits it.
    let (error, d) = refused(&p, get(&format!("localhost:{port}"), "/")).await;
    assert_eq!(error, "DestinationIpProhibited");
    assert!(
        d.reason.starts_with("localhost resolved to 127.0.0.1"),
        "{}",
        d.reason
    );
    assert!(server.heads().is_empty(), "{:?}", server.heads());

    // Granting the address by address lets it through.
    let p = f.prepare(
        "netprobe",
        &["net:http://*:*", &format!("net:http://127.0.0.1:{port}")],
    );
    let (answer, _) = probe(&p, get(&format!("0x7f000001:{port}"), "/")).await;
    assert_eq!(answer["status"], 200, "{answer}");
}

#[tokio::test]
async fn a_forged_host_header_or_absolute_form_target_cannot_retarget() {
    let server = Server::html("ok");
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    // wasi-http forbids the header outright.
    let out = call(
        &p,
        "request",
        json!({"scheme": "http", "authority": server.authority(),
               "headers": [["host", "169.254.169.254"]]}),
    )
    .await
    .unwrap();
    match &out.result {
        Err(warden_core::runtime::ToolFailure::InvalidInput { message }) => {
            assert!(message.contains("Forbidden"), "{message}")
        }
        other => panic!("a Host header was accepted: {other:?}"),
    }
    // An absolute-form request target naming another host is refused (by
    // wasi-http already; warden's own parse refuses it too).
    let out = call(
        &p,
        "request",
        get(
            &server.authority(),
            "http://169.254.169.254/latest/meta-data",
        ),
    )
    .await
    .unwrap();
    assert!(
        matches!(&out.result, Err(warden_core::runtime::ToolFailure::InvalidInput { message }) if message == "request parts refused"),
        "{:?}",
        out.result
    );
    assert!(server.heads().is_empty(), "{:?}", server.heads());
    still_answers(&p, &server).await;
}

#[tokio::test]
async fn a_redirect_to_an_ungranted_origin_is_refused() {
    let elsewhere = Server::html("should never be reached");
    let to = format!("{}/landing", elsewhere.origin());
    let server = Server::start(move |head, c| {
        if target(head) == "/ok" {
            respond(c, "200 OK", "text/plain", "ok")
        } else {
            redirect(c, "302 Found", &to)
        }
    });
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    let (error, d) = refused(&p, get(&server.authority(), "/start")).await;
    assert_eq!(error, "HttpRequestDenied");
    assert_eq!(
        (d.operation, d.resource.as_str()),
        ("redirect", elsewhere.origin().as_str())
    );
    assert_eq!(
        d.reason,
        format!(
            "redirect from {}: port {} is not granted ({} is)",
            server.origin(),
            elsewhere.port(),
            server.origin()
        )
    );
    assert!(elsewhere.heads().is_empty());
    still_answers(&p, &server).await;
}

#[tokio::test]
async fn credentials_are_dropped_when_a_redirect_leaves_the_origin() {
    let landing = Server::html("landed");
    let to = format!("{}/landing", landing.origin());
    let server = Server::start(move |head, c| match target(head) {
        "/start" => redirect(c, "302 Found", "/same"),
        "/same" => redirect(c, "307 Temporary Redirect", &to),
        _ => respond(c, "200 OK", "text/plain", "ok"),
    });
    let f = Fixture::new();
    let p = f.prepare(
        "netprobe",
        &[
            &format!("net:{}", server.origin()),
            &format!("net:{}", landing.origin()),
        ],
    );
    let (answer, out) = probe(
        &p,
        json!({"scheme": "http", "authority": server.authority(), "path": "/start",
               "headers": [["authorization", "Bearer secret"], ["cookie", "s=1"],
                           ["x-trace", "kept"]]}),
    )
    .await;
    assert_eq!(answer["status"], 200, "{answer}");
    assert_eq!(answer["body"], "landed");
    assert!(out.denials.is_empty());
    let first = server.heads();
    assert_eq!(first.len(), 2, "{first:?}");
    // Within the origin, credentials go along.
    assert_eq!(header(&first[1], "authorization"), Some("Bearer secret"));
    assert_eq!(header(&first[1], "cookie"), Some("s=1"));
    // Across origins they are dropped; other headers are not.
    let last = landing.heads();
    assert_eq!(last.len(), 1);
    assert_eq!(target(&last[0]), "/landing");
    assert_eq!(header(&last[0], "authorization"), None, "{}", last[0]);
    assert_eq!(header(&last[0], "cookie"), None, "{}", last[0]);
    assert_eq!(header(&last[0], "x-trace"), Some("kept"));
    assert_eq!(header(&last[0], "host"), Some(landing.authority().as_str()));
}

#[tokio::test]
async fn redirect_loops_stop_at_the_hop_limit() {
    let server = Server::start(|head, c| {
        let n: u32 = target(head).trim_start_matches('/').parse().unwrap_or(0);
        redirect(c, "302 Found", &format!("/{}", n + 1))
    });
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    let (answer, out) = probe(&p, get(&server.authority(), "/0")).await;
    assert_eq!(answer["error"], "LoopDetected", "{answer}");
    assert!(out.denials.is_empty());
    // The first request and five followed hops.
    assert_eq!(
        server.heads().len(),
        1 + warden_core::capability::network::MAX_REDIRECTS as usize
    );
}

#[tokio::test]
async fn huge_and_endless_bodies_are_cut_at_the_size_limit() {
    let limit = warden_core::capability::network::MAX_RESPONSE_BYTES;
    let server = Server::start(move |head, c| {
        let chunk = vec![b'x'; 64 * 1024];
        if target(head) == "/huge" {
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                3 * limit
            );
            for _ in 0..(3 * limit / chunk.len() as u64) {
                if c.write_all(&chunk).is_err() {
                    return;
                }
            }
        } else if target(head) == "/endless" {
            let _ = write!(c, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
            // Ends when warden hangs up.
            loop {
                if write!(c, "{:x}\r\n", chunk.len()).is_err()
                    || c.write_all(&chunk).is_err()
                    || c.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
        } else {
            respond(c, "200 OK", "text/plain", "ok")
        }
    });
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    for path in ["/huge", "/endless"] {
        let (answer, _) = probe(&p, get(&server.authority(), path)).await;
        assert_eq!(answer["status"], 200, "{path}");
        // wasmtime-wasi-http reports a body error as text, not a code.
        let error = answer["body_error"].as_str().unwrap_or_default();
        assert!(
            error.contains("size exceeds limit: 8388608"),
            "{path}: {answer}"
        );
        let read = answer["body_bytes"].as_u64().unwrap();
        assert!(read <= limit, "{path}: {read} bytes reached the guest");
    }
    still_answers(&p, &server).await;
}

#[tokio::test]
async fn thousands_of_response_headers_are_refused() {
    let server = Server::start(|head, c| {
        if target(head) == "/ok" {
            return respond(c, "200 OK", "text/plain", "ok");
        }
        let mut reply = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..5000 {
            reply.push_str(&format!("x-h{i}: v\r\n"));
        }
        reply.push_str("content-length: 0\r\n\r\n");
        let _ = c.write_all(reply.as_bytes());
    });
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    let (answer, _) = probe(&p, get(&server.authority(), "/many")).await;
    assert_eq!(answer["status"], Value::Null, "{answer}");
    assert_eq!(
        answer["error"],
        "HttpResponseHeaderSectionSize(Some(65536))"
    );
    still_answers(&p, &server).await;
}

#[tokio::test]
async fn a_silent_or_trickling_server_is_bounded_by_the_call_deadline() {
    let server = Server::start(|head, c| match target(head) {
        "/ok" => respond(c, "200 OK", "text/plain", "ok"),
        "/silent" => std::thread::sleep(Duration::from_secs(8)),
        _ => {
            let _ = write!(c, "HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n");
            for _ in 0..80 {
                if c.write_all(b"x").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    // netprobe's calls have 4 s; the network gets that less a margin, so
    // the guest sees a timeout it can report instead of being stopped.
    let (answer, _) = probe(&p, get(&server.authority(), "/silent")).await;
    assert_eq!(answer["error"], "ConnectionTimeout", "{answer}");
    let (answer, _) = probe(&p, get(&server.authority(), "/trickle")).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let error = answer["body_error"].as_str().unwrap_or_default();
    assert!(error.contains("timeout"), "{answer}");
    still_answers(&p, &server).await;
}

/// Issue 11: network denials were unbounded (every refused request pushed
/// one, and `warden call` then wrote an audit record for each). They share
/// the one bound of every capability; the rest are counted, and every
/// request is still refused.
#[tokio::test]
async fn network_denials_are_bounded_like_every_capability() {
    let server = Server::html("<p>hello</p>");
    let f = Fixture::new();
    let p = f.prepare("netprobe", &[&format!("net:{}", server.origin())]);
    let flood = 3 * warden_core::capability::MAX_DENIALS;
    let mut input = get("127.0.0.2:9", "/");
    input["repeat"] = json!(flood);
    let (answer, out) = probe(&p, input).await;
    assert_eq!(answer["error"], "HttpRequestDenied", "{answer}");
    assert_eq!(out.denials.len(), warden_core::capability::MAX_DENIALS);
    assert_eq!(
        out.denials.len() + out.denials_dropped,
        flood,
        "every refused request is counted"
    );
    assert!(server.heads().is_empty(), "nothing reached any server");
    still_answers(&p, &server).await;
}
