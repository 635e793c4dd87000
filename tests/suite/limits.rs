//! P4: no guest can hang, crash or exhaust the host. Every case ends in a
//! bounded, typed error; the instance is thrown away; the next call works.

use super::common::{Fixture, assert_still_answers, call};
use serde_json::json;
use warden_core::Error;

#[tokio::test]
async fn an_infinite_loop_is_stopped_at_its_deadline() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let err = call(&p, "spin", json!({})).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { limit_ms: 2000, .. }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        // Issue 11: this said to raise `limits.timeout_ms` "in the grant",
        // which has no such field; the limit is the manifest's.
        "hostile.spin was stopped after its time limit of 2000 ms; the limit is the plugin's own (`[limits] timeout_ms` in its manifest, at most 3600000 ms): no grant raises it, so ask its author for a higher one or split the work"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn sleeping_forever_is_stopped_at_its_deadline() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let err = call(&p, "sleep", json!({})).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { limit_ms: 2000, .. }),
        "{err}"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let err = call(&p, "alloc", json!({"n": 1000})).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "hostile.alloc exceeded its memory limit of 32 MiB and was stopped"
    );
    // Below the limit the same tool works.
    let out = call(&p, "alloc", json!({"n": 4})).await.unwrap();
    assert_eq!(out.result.unwrap(), json!(4));
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn deep_recursion_overflows_the_guest_stack_only() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let err = call(&p, "recurse", json!({"n": 100_000_000u64}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "hostile.recurse crashed: stack overflow (recursion too deep)"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn an_output_flood_is_bounded() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    // Printing forever fills the bounded stdout pipe; the guest's own
    // print then fails and it aborts.
    let err = call(&p, "shout", json!({})).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "hostile.shout crashed: the plugin panicked or aborted (wasm `unreachable`)"
    );
    // A result over the output limit is refused.
    let err = call(&p, "huge", json!({"n": 1_000_000})).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "hostile.huge produced 1000002 bytes of output, over its limit of 65536 bytes"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn a_flood_of_handles_is_bounded() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let err = call(&p, "hoard_handles", json!({})).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "hostile.hoard_handles crashed: it held more than 4096 open resources (handles, streams)"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn log_messages_are_escaped_and_bounded() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let out = call(&p, "chatter", json!({"n": 10_000})).await.unwrap();
    assert!(out.result.is_ok());
    assert_eq!(out.log.len(), warden_core::capability::log::MAX_MESSAGES);
    assert_eq!(out.log[1], "message 1\\u{a}\\u{1b}[31mforged line");
    assert!(
        out.log
            .iter()
            .all(|m| !m.contains('\n') && !m.contains('\x1b'))
    );
}

#[tokio::test]
async fn huge_and_malformed_inputs_are_refused_before_the_plugin_runs() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let huge = json!({"blob": "x".repeat(2 * 1024 * 1024)}).to_string();
    let err = p.call("echo", &huge).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input for hostile.echo: 2097163 bytes is over the input limit of 1048576"
    );
    let err = p.call("echo", "{not json").await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input for hostile.echo: not valid JSON: key must be a string"),
        "{err}"
    );
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = p.call("echo", &deep).await.unwrap_err();
    assert!(
        err.to_string().contains("recursion limit exceeded"),
        "{err}"
    );
    // A well-formed input of the wrong shape is the plugin's to refuse.
    let out = call(&p, "read", json!({"nope": 1})).await.unwrap();
    let failure = out.result.unwrap_err();
    assert!(
        matches!(
            failure,
            warden_core::runtime::ToolFailure::InvalidInput { .. }
        ),
        "{failure:?}"
    );
    assert_still_answers(&p).await;
}

#[tokio::test]
async fn the_environment_holds_only_granted_variables() {
    let fx = Fixture::new();
    let p = fx.prepare("hostile", &["file:.:write"]);
    let out = call(&p, "env", json!({})).await.unwrap();
    assert_eq!(out.result.unwrap(), json!([]));
    let p = fx.prepare("hostile", &["file:.:write", "env:WARDEN_TEST_VAR"]);
    let out = call(&p, "env", json!({})).await.unwrap();
    assert_eq!(
        out.result.unwrap(),
        json!([["WARDEN_TEST_VAR", "granted-value"]])
    );
}

#[tokio::test]
async fn many_concurrent_calls_are_bounded_and_all_answered() {
    let fx = Fixture::new();
    let p = std::sync::Arc::new(fx.prepare("hostile", &["file:.:write"]));
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { call(&p, "read", json!({"path": "a.txt"})).await })
        })
        .collect();
    for c in calls {
        let out = c.await.unwrap().unwrap();
        assert_eq!(out.result.unwrap(), json!("hi"));
    }
}

#[tokio::test]
async fn a_looping_call_does_not_block_other_calls() {
    let fx = Fixture::new();
    let p = std::sync::Arc::new(fx.prepare("hostile", &["file:.:write"]));
    let looping = {
        let p = p.clone();
        tokio::spawn(async move { call(&p, "spin", json!({})).await })
    };
    for _ in 0..20 {
        assert_still_answers(&p).await;
    }
    assert!(matches!(looping.await.unwrap(), Err(Error::Timeout { .. })));
}

#[tokio::test]
async fn a_call_never_sees_what_an_earlier_call_left_in_memory() {
    let f = Fixture::new();
    let p = f.prepare("hostile", &["file:.:write"]);
    let marker = "warden-secret-7f3a9c";
    // The scan finds a marker planted in the same instance...
    let out = call(&p, "find", json!({"marker": marker, "plant_first": true}))
        .await
        .unwrap();
    assert_eq!(out.result.unwrap(), json!(true));
    // ...and never one an earlier call left in its slot (slots are reused,
    // and reset by restoring only the pages a call dirtied).
    for _ in 0..5 {
        let out = call(&p, "plant", json!({"marker": marker})).await.unwrap();
        assert!(out.result.is_ok(), "{:?}", out.result);
        let out = call(&p, "find", json!({"marker": marker})).await.unwrap();
        assert_eq!(
            out.result.unwrap(),
            json!(false),
            "memory leaked across calls"
        );
    }
    assert_still_answers(&p).await;
}
