//! The provider layer against the scripted server: each wire format over
//! real HTTP with SSE split at awkward places, retries, and clear errors.

use super::llm::{Server, Step, Turn};
use serde_json::json;
use std::time::Duration;
use warden_agent::provider::{
    Endpoint, Item, Kind, Provider, ProviderError, Quiet, Reply, Request, Retry, ToolCall, ToolDef,
    Usage,
};

const KINDS: [Kind; 3] = [Kind::Chat, Kind::Responses, Kind::Anthropic];

fn provider(server: &Server, kind: Kind, key: Option<&str>) -> Provider {
    let endpoint = Endpoint {
        kind,
        base_url: server.base_url(),
        model: "scripted-model".into(),
        api_key: key.map(str::to_string),
        key_source: "TEST_API_KEY".into(),
        max_output_tokens: None,
        context_window: None,
    };
    let retry = Retry {
        attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    };
    Provider::new(endpoint, retry).unwrap()
}

fn tools() -> Vec<ToolDef> {
    vec![ToolDef {
        name: "fs__read".into(),
        description: "[fs] Read a file".into(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}}),
    }]
}

async fn ask(p: &Provider, items: &[Item]) -> Result<Reply, ProviderError> {
    let tools = tools();
    let req = Request {
        instructions: "be brief",
        items,
        tools: &tools,
    };
    p.complete(&req, &mut Quiet).await
}

fn user(text: &str) -> Vec<Item> {
    vec![Item::User { text: text.into() }]
}

#[tokio::test]
async fn every_wire_format_streams_text_and_tool_calls() {
    for kind in KINDS {
        let text = "Voilà — I'll read it: ünïcödé ✓";
        let args = r#"{"path":"src/lib.rs","note":"é✓"}"#;
        let turn = Turn::raw_call("fs__read", args)
            .saying(text)
            .and_call("search__grep", json!({"pattern": "fn main"}));
        let server = Server::start(vec![Step::turn(turn)]);
        let p = provider(&server, kind, Some("sk-test"));
        let reply = ask(&p, &user("read lib.rs")).await.unwrap();
        assert_eq!(reply.text, text, "{kind:?}");
        assert_eq!(reply.calls.len(), 2, "{kind:?}: {reply:?}");
        assert_eq!(reply.calls[0].name, "fs__read");
        assert_eq!(reply.calls[0].arguments, args);
        assert_eq!(reply.calls[1].name, "search__grep");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&reply.calls[1].arguments).unwrap(),
            json!({"pattern": "fn main"})
        );
        assert_ne!(reply.calls[0].id, reply.calls[1].id);
        assert_eq!(
            reply.usage,
            Usage {
                input_tokens: 100,
                output_tokens: 10
            },
            "{kind:?}"
        );
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        let req = &seen[0];
        assert_eq!(req.body["model"], "scripted-model");
        assert_eq!(req.body["stream"], true);
        match kind {
            Kind::Chat => {
                assert_eq!(req.path, "/v1/chat/completions");
                assert_eq!(req.header("authorization"), Some("Bearer sk-test"));
                assert_eq!(
                    req.body["messages"][0],
                    json!({"role": "system", "content": "be brief"})
                );
                assert_eq!(req.body["tools"][0]["function"]["name"], "fs__read");
            }
            Kind::Responses => {
                assert_eq!(req.path, "/v1/responses");
                assert_eq!(req.header("authorization"), Some("Bearer sk-test"));
                assert_eq!(req.body["instructions"], "be brief");
                assert_eq!(req.body["tools"][0]["name"], "fs__read");
            }
            Kind::Anthropic => {
                assert_eq!(req.path, "/v1/messages");
                assert_eq!(req.header("x-api-key"), Some("sk-test"));
                assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
                assert!(req.header("authorization").is_none());
                assert_eq!(req.body["system"], "be brief");
                assert_eq!(req.body["tools"][0]["input_schema"]["type"], "object");
                assert!(req.body["max_tokens"].as_u64().unwrap() > 0);
            }
        }
    }
}

#[tokio::test]
async fn tool_results_go_back_in_each_formats_own_shape() {
    let items = vec![
        Item::User {
            text: "fix it".into(),
        },
        Item::Assistant {
            text: "reading".into(),
            calls: vec![ToolCall {
                id: "c1".into(),
                name: "fs__read".into(),
                arguments: r#"{"path":"a"}"#.into(),
            }],
        },
        Item::Tool {
            call_id: "c1".into(),
            name: "fs__read".into(),
            output: "contents".into(),
            is_error: false,
        },
    ];
    for kind in KINDS {
        let server = Server::start(vec![Step::turn(Turn::text("done"))]);
        let p = provider(&server, kind, None);
        assert_eq!(ask(&p, &items).await.unwrap().text, "done");
        let body = &server.seen()[0].body;
        match kind {
            Kind::Chat => {
                let m = &body["messages"];
                assert_eq!(m[2]["tool_calls"][0]["id"], "c1");
                assert_eq!(
                    m[2]["tool_calls"][0]["function"]["arguments"],
                    r#"{"path":"a"}"#
                );
                assert_eq!(
                    m[3],
                    json!({"role": "tool", "tool_call_id": "c1", "content": "contents"})
                );
            }
            Kind::Responses => {
                let i = &body["input"];
                assert_eq!(i[0], json!({"role": "user", "content": "fix it"}));
                assert_eq!(i[2]["type"], "function_call");
                assert_eq!(i[2]["call_id"], "c1");
                assert_eq!(
                    i[3],
                    json!({"type": "function_call_output", "call_id": "c1", "output": "contents"})
                );
            }
            Kind::Anthropic => {
                let m = &body["messages"];
                assert_eq!(m.as_array().unwrap().len(), 3);
                assert_eq!(m[1]["role"], "assistant");
                assert_eq!(m[1]["content"][1]["type"], "tool_use");
                assert_eq!(m[1]["content"][1]["input"], json!({"path": "a"}));
                assert_eq!(m[2]["role"], "user");
                assert_eq!(m[2]["content"][0]["type"], "tool_result");
                assert_eq!(m[2]["content"][0]["tool_use_id"], "c1");
            }
        }
    }
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    for kind in KINDS {
        let limited = Step::Raw {
            status: 429,
            headers: vec![("retry-after".into(), "0".into())],
            chunks: vec![br#"{"error":{"message":"slow down"}}"#.to_vec()],
        };
        let server = Server::start(vec![
            limited,
            Step::status(503, "overloaded"),
            Step::turn(Turn::text("finally")),
        ]);
        let p = provider(&server, kind, Some("k"));
        let reply = ask(&p, &user("hi")).await.unwrap();
        assert_eq!(reply.text, "finally");
        assert_eq!(server.seen().len(), 3);
    }
}

#[tokio::test]
async fn retries_end_with_the_last_error() {
    let server = Server::start(
        (0..4)
            .map(|_| Step::status(500, "{\"error\":{\"message\":\"boom\"}}"))
            .collect(),
    );
    let p = provider(&server, Kind::Chat, Some("k"));
    let err = ask(&p, &user("hi")).await.unwrap_err();
    assert_eq!(server.seen().len(), 4, "1 try + 3 retries");
    let msg = err.to_string();
    assert!(msg.contains("answered 500: boom"), "{msg}");
    assert!(msg.contains("still after retrying"), "{msg}");
}

#[tokio::test]
async fn a_401_is_not_retried_and_says_which_key() {
    let body =
        r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let server = Server::start(vec![Step::status(401, body)]);
    let p = provider(&server, Kind::Anthropic, Some("bad"));
    let err = ask(&p, &user("hi")).await.unwrap_err();
    assert_eq!(server.seen().len(), 1);
    assert!(matches!(err, ProviderError::Status { status: 401, .. }));
    let msg = err.to_string();
    assert!(msg.contains("answered 401: invalid x-api-key"), "{msg}");
    assert!(
        msg.contains("refused the API key from TEST_API_KEY"),
        "{msg}"
    );

    let server = Server::start(vec![Step::status(
        401,
        "{\"error\":{\"message\":\"no key\"}}",
    )]);
    let p = provider(&server, Kind::Chat, None);
    let msg = ask(&p, &user("hi")).await.unwrap_err().to_string();
    assert!(
        msg.contains("no API key was sent: set TEST_API_KEY"),
        "{msg}"
    );

    let server = Server::start(vec![Step::status(404, "model not found")]);
    let p = provider(&server, Kind::Responses, None);
    let msg = ask(&p, &user("hi")).await.unwrap_err().to_string();
    assert!(msg.contains("answered 404: model not found"), "{msg}");
    assert!(msg.contains("check the base URL"), "{msg}");
}

#[tokio::test]
async fn malformed_and_partial_streams_are_clear_errors() {
    let cases: Vec<(Kind, Step, &str)> = vec![
        (
            Kind::Chat,
            Step::sse(&[
                "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
                "data: {not json\n\n",
            ]),
            "event data is not JSON",
        ),
        (
            Kind::Chat,
            Step::sse(&[
                "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n",
            ]),
            "the stream ended before the response was complete",
        ),
        (
            Kind::Chat,
            Step::sse(&["data: {\"error\":{\"message\":\"context length exceeded\"}}\n\n"]),
            "reported an error mid-stream: context length exceeded",
        ),
        (
            Kind::Responses,
            Step::sse(&[
                "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n",
                "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"par",
            ]),
            "the stream ended before the response was complete",
        ),
        (
            Kind::Responses,
            Step::sse(&[
                "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"model crashed\"}}}\n\n",
            ]),
            "reported an error mid-stream: model crashed",
        ),
        (
            Kind::Anthropic,
            Step::sse(&[
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":1}}}\n\n",
                "event: ping\ndata: {\"type\":\"ping\"}\n\n",
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            ]),
            "overloaded_error: Overloaded",
        ),
        (
            Kind::Anthropic,
            Step::sse(&[
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\"}}\n\n",
            ]),
            "input_json_delta for block 3, which is not a tool_use block",
        ),
        (
            Kind::Chat,
            Step::sse(&["data: \u{1b}[31mred\n\n"]),
            "\\u{1b}[31mred",
        ),
    ];
    for (kind, step, want) in cases {
        let server = Server::start(vec![step]);
        let p = provider(&server, kind, None);
        let err = ask(&p, &user("hi")).await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(want), "{kind:?}: {msg}");
        assert!(!msg.contains('\u{1b}'), "escaped: {msg}");
    }
}

#[tokio::test]
async fn invalid_json_arguments_are_passed_on_raw() {
    for kind in [Kind::Chat, Kind::Responses] {
        let server = Server::start(vec![Step::turn(Turn::raw_call("fs__read", "{\"path\": "))]);
        let p = provider(&server, kind, None);
        let reply = ask(&p, &user("hi")).await.unwrap();
        assert_eq!(reply.calls[0].arguments, "{\"path\": ", "{kind:?}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error_after_retries() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let endpoint = Endpoint {
        kind: Kind::Chat,
        base_url: format!("http://{addr}/v1"),
        model: "m".into(),
        api_key: None,
        key_source: "OPENAI_API_KEY".into(),
        max_output_tokens: None,
        context_window: None,
    };
    let retry = Retry {
        attempts: 1,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(1),
    };
    let p = Provider::new(endpoint, retry).unwrap();
    let msg = ask(&p, &user("hi")).await.unwrap_err().to_string();
    assert!(
        msg.contains(&format!("cannot reach http://{addr}/v1/chat/completions")),
        "{msg}"
    );
    assert!(msg.contains("check that the server is running"), "{msg}");
}

#[tokio::test]
async fn a_chat_stream_without_done_is_whole_once_a_choice_finished() {
    // Some servers end with the finished choice and usage but no `[DONE]`.
    let server = Server::start(vec![Step::sse(&[
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":null}]}\r\n\r\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\r\n\r\n",
    ])]);
    let p = provider(&server, Kind::Chat, None);
    let reply = ask(&p, &user("hi")).await.unwrap();
    assert_eq!(reply.text, "ok");
    assert_eq!(reply.usage.input_tokens, 3);
}
