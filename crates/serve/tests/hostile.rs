//! 10,000 malformed and hostile requests against one server: every one gets an answer with the
//! right status and OpenAI's error shape, the server stays healthy (it still answers a real
//! request correctly afterwards, and while a slow-loris client holds a connection open), and
//! its resident memory stays bounded.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_inference::LoadedModel;
use reasoning_model::{DType, Device};
use reasoning_serve::{ServeConfig, start};
use serde_json::{Value, json};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Sends raw bytes as a POST body; returns the status and the body.
fn raw(addr: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body); // the server may answer 413 and close before reading it all
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => out[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

fn hostile(rng: &mut ChaCha8Rng, i: usize) -> (Vec<u8>, &'static [u16]) {
    let user = |c: Value| json!({"messages": [{"role": "user", "content": c}], "max_tokens": 1});
    let four = &[400u16][..];
    match i % 16 {
        0 => {
            // Random bytes, often not UTF-8.
            let n = rng.random_range(0..200);
            ((0..n).map(|_| rng.random::<u8>()).collect(), four)
        }
        1 => (b"{\"messages\": [".to_vec(), four),
        2 => (
            user(json!(rng.random::<u32>())).to_string().into_bytes(),
            four,
        ),
        3 => {
            let mut b = user(json!("hi"));
            b["temperature"] = json!(-rng.random_range(0.001..1e9));
            (b.to_string().into_bytes(), four)
        }
        4 => {
            let mut b = user(json!("hi"));
            b["max_tokens"] = json!(rng.random::<u64>() | (1 << 63));
            (b.to_string().into_bytes(), four)
        }
        5 => {
            let mut b = user(json!("hi"));
            b["n"] = json!(1e300);
            (b.to_string().into_bytes(), four)
        }
        6 => {
            let mut b = user(json!("hi"));
            b["model"] = json!(format!("model-{}", rng.random::<u32>()));
            (b.to_string().into_bytes(), &[404])
        }
        7 => (json!({"messages": []}).to_string().into_bytes(), four),
        8 => (
            json!({"messages": [{"role": "wizard", "content": "x"}]})
                .to_string()
                .into_bytes(),
            four,
        ),
        9 => (
            json!({"messages": [{"content": "no role"}]})
                .to_string()
                .into_bytes(),
            four,
        ),
        10 => {
            let mut b = user(json!("hi"));
            b["top_p"] = json!(rng.random_range(1.0001..10.0));
            (b.to_string().into_bytes(), four)
        }
        11 => {
            let mut b = user(json!("hi"));
            b["stop"] = json!(["", "a"]);
            (b.to_string().into_bytes(), four)
        }
        12 => (b"[1, 2, 3]".to_vec(), four),
        13 => {
            let mut b = user(json!("hi"));
            b["logprobs"] = json!(true);
            b["top_logprobs"] = json!(rng.random_range(21..10_000));
            (b.to_string().into_bytes(), four)
        }
        14 => (b"\xff\xfe\x00{\"messages\":1}".to_vec(), four),
        _ => {
            let mut b = user(json!("hi"));
            b["stream_options"] = json!({"include_usage": true});
            (b.to_string().into_bytes(), four)
        }
    }
}

#[test]
fn ten_thousand_hostile_requests_leave_the_server_healthy() {
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny-arith");
    let lm = LoadedModel::load(model.to_str().unwrap(), None, &Device::flex(), DType::F32).unwrap();
    let server = start(
        lm,
        ServeConfig {
            port: 0,
            max_batch: 4,
            max_queue: 4,
            ..ServeConfig::default()
        },
        false,
    )
    .unwrap();
    let addr = server.addr().to_string();
    let chat = "/v1/chat/completions";
    // A slow-loris client: headers and part of a body, then nothing, for the whole test.
    let mut loris = TcpStream::connect(&addr).unwrap();
    loris
        .write_all(
            format!("POST {chat} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{{\"mess")
                .as_bytes(),
        )
        .unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let before = rss_kb();
    let mut peak = before;
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let path = if i % 97 == 0 { "/v1/completions" } else { chat };
        let (body, allowed) = hostile(&mut rng, i);
        let (status, reply) = raw(&addr, path, &body);
        let allowed: Vec<u16> = if path == chat {
            allowed.to_vec()
        } else {
            vec![400, 404]
        };
        assert!(
            allowed.contains(&status),
            "request {i}: status {status} for {:?}",
            String::from_utf8_lossy(&body)
        );
        let v: Value =
            serde_json::from_slice(&reply).unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert!(v["error"]["message"].is_string(), "request {i}: {v}");
        *counts.entry(status).or_insert(0) += 1;
        if i % 1000 == 0 {
            peak = peak.max(rss_kb());
        }
    }
    // The big ones: a declared 10 MB body (413 before it is sent), and 10,000 messages (longer than the context: 400).
    let mut big = TcpStream::connect(&addr).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST {chat} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        10 << 20
    );
    big.write_all(head.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = big.read_to_end(&mut reply);
    assert!(
        String::from_utf8_lossy(&reply).starts_with("HTTP/1.1 413"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"role": if i % 2 == 0 {"user"} else {"assistant"}, "content": "12 + 7"}))
        .collect();
    let (status, reply) = raw(
        &addr,
        chat,
        json!({"messages": many}).to_string().as_bytes(),
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&reply));
    assert!(String::from_utf8_lossy(&reply).contains("context_length_exceeded"));
    peak = peak.max(rss_kb());

    // Still healthy: a real request is answered, with the slow-loris connection still open.
    let (status, reply) = raw(&addr, chat, json!({"messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 8, "temperature": 0}).to_string().as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let v: Value = serde_json::from_slice(&reply).unwrap();
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let after = rss_kb();
    println!(
        "statuses {counts:?}; resident memory {} MB before, {} MB peak, {} MB after",
        before / 1024,
        peak.max(after) / 1024,
        after / 1024
    );
    assert!(
        peak.max(after) < before + 200 * 1024,
        "memory grew by more than 200 MB"
    );
    drop(loris);
    server.shutdown();
}
