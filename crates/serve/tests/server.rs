//! The server end to end on the embedded model, over real HTTP on 127.0.0.1: replies equal
//! the library's own generation, concurrent requests (continuous batching) give what each
//! gives alone, streams add up to the whole reply, and bad requests get OpenAI's errors.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use reasoning_inference::{GenerationConfig, LoadedModel, generate_batch};
use reasoning_model::{DType, Device};
use reasoning_serve::client::{ChatSettings, Client};
use reasoning_serve::{RunningServer, ServeConfig, start};
use reasoning_tokenizer::{ChatMessage, ChatOptions};
use serde_json::{Value, json};

fn embedded() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/tiny-arith")
        .display()
        .to_string()
}

fn load() -> LoadedModel {
    LoadedModel::load(&embedded(), None, &Device::flex(), DType::F32).unwrap()
}

fn server(max_batch: usize, max_queue: usize) -> RunningServer {
    let config = ServeConfig {
        port: 0,
        max_batch,
        max_queue,
        max_body_bytes: 64 << 10,
        ..ServeConfig::default()
    };
    start(load(), config, false).unwrap()
}

fn post(url: &str, body: &Value) -> (u16, Value, Option<String>) {
    match ureq::post(url).send_json(body.clone()) {
        Ok(r) => (r.status(), r.into_json().unwrap(), None),
        Err(ureq::Error::Status(code, r)) => {
            let retry = r.header("Retry-After").map(str::to_string);
            (code, r.into_json().unwrap(), retry)
        }
        Err(e) => panic!("{url}: {e}"),
    }
}

const QUESTION: &str = "What is 23 + 19?";

/// The status of a chat request that declares a 100 MB body and waits for `100 Continue`.
fn declared_too_large(addr: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        100 << 20
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("request_too_large"), "{text}");
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn chat(question: &str, extra: Value) -> Value {
    let mut body = json!({"messages": [{"role": "user", "content": question}], "max_tokens": 48});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[test]
fn greedy_replies_equal_the_librarys_generation() {
    let server = server(4, 8);
    let url = format!("{}/v1/chat/completions", server.url());
    let (status, reply, _) = post(&url, &chat(QUESTION, json!({"temperature": 0})));
    assert_eq!(status, 200, "{reply}");

    let lm = load();
    let prompt = lm
        .tokenizer
        .encode_chat(
            &[ChatMessage::new("user", QUESTION)],
            &ChatOptions::generation(),
        )
        .unwrap();
    let config = GenerationConfig::greedy(48, lm.tokenizer.eos_token_ids())
        .with_vocab_limit(lm.tokenizer.vocab_size());
    let out = generate_batch(
        &lm.model,
        std::slice::from_ref(&prompt),
        1,
        &config,
        &mut [],
        |_| reasoning_inference::Control::Continue,
    )
    .unwrap();
    let ids = out.generations[0].ids.clone();
    let text = lm.tokenizer.decode(&ids, true).unwrap();
    let message = &reply["choices"][0]["message"];
    let whole = match message["reasoning_content"].as_str() {
        Some(r) => format!(
            "<think>\n{r}</think>\n\n{}",
            message["content"].as_str().unwrap()
        ),
        None => message["content"].as_str().unwrap().to_string(),
    };
    assert_eq!(whole.replace("\n", ""), text.replace("\n", ""), "{reply}");
    assert_eq!(reply["usage"]["completion_tokens"], ids.len());
    assert_eq!(reply["usage"]["prompt_tokens"], prompt.len());
    assert_eq!(reply["object"], "chat.completion");
    assert!(reply["model"].as_str().unwrap().contains("tiny-arith"));
    server.shutdown();
}

#[test]
fn concurrent_requests_give_what_each_gives_alone() {
    let server = server(8, 8);
    let url = format!("{}/v1/chat/completions", server.url());
    let bodies: Vec<Value> = (0..4)
        .map(|i| {
            chat(
                &format!("What is {} + {}?", 10 + i, 7 * i),
                json!({"temperature": 0.8, "top_p": 0.9, "seed": 100 + i, "n": 1 + i % 2}),
            )
        })
        .collect();
    let alone: Vec<Value> = bodies.iter().map(|b| post(&url, b).1).collect();
    // The same requests at once: they share decode steps, joining and leaving the batch.
    let together: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|b| {
                let url = url.clone();
                s.spawn(move || post(&url, b).1)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (a, t) in alone.iter().zip(&together) {
        assert_eq!(
            a["choices"].as_array().unwrap().len(),
            t["choices"].as_array().unwrap().len()
        );
        for (ca, ct) in a["choices"]
            .as_array()
            .unwrap()
            .iter()
            .zip(t["choices"].as_array().unwrap())
        {
            assert_eq!(
                ca["message"], ct["message"],
                "same seed, same text, batched or not"
            );
        }
    }
    // Two choices of one request differ (each has its own stream).
    let two = &alone[1]["choices"];
    assert_ne!(two[0]["message"], two[1]["message"]);
    server.shutdown();
}

#[test]
fn a_stream_adds_up_to_the_whole_reply() {
    let server = server(4, 8);
    let url = format!("{}/v1/chat/completions", server.url());
    let body = chat(QUESTION, json!({"seed": 3, "temperature": 0.7}));
    let (_, whole, _) = post(&url, &body);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let resp = ureq::post(&url).send_json(streamed).unwrap();
    assert!(resp.content_type().starts_with("text/event-stream"));
    let (mut reasoning, mut content, mut finish, mut usage, mut done) =
        (String::new(), String::new(), None, None, false);
    for line in BufReader::new(resp.into_reader()).lines() {
        let line = line.unwrap();
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        if !chunk["usage"].is_null() {
            usage = Some(chunk["usage"].clone());
        }
        for c in chunk["choices"].as_array().unwrap() {
            reasoning += c["delta"]["reasoning_content"].as_str().unwrap_or("");
            content += c["delta"]["content"].as_str().unwrap_or("");
            if let Some(f) = c["finish_reason"].as_str() {
                finish = Some(f.to_string());
            }
        }
    }
    assert!(done, "the stream ends with [DONE]");
    let message = &whole["choices"][0]["message"];
    assert_eq!(content, message["content"].as_str().unwrap());
    assert_eq!(
        reasoning,
        message["reasoning_content"].as_str().unwrap_or("")
    );
    assert_eq!(
        finish.as_deref(),
        whole["choices"][0]["finish_reason"].as_str()
    );
    assert_eq!(usage.unwrap(), whole["usage"]);
    server.shutdown();
}

#[test]
fn stop_strings_logprobs_and_token_ids() {
    let server = server(4, 8);
    let url = format!("{}/v1/completions", server.url());
    let (status, full, _) = post(
        &url,
        &json!({"prompt": "12+7=", "max_tokens": 24, "temperature": 0, "logprobs": 3, "return_token_ids": true}),
    );
    assert_eq!(status, 200, "{full}");
    let choice = &full["choices"][0];
    let text = choice["text"].as_str().unwrap();
    let ids = choice["token_ids"].as_array().unwrap();
    assert_eq!(
        ids.len(),
        full["usage"]["completion_tokens"].as_u64().unwrap() as usize
    );
    assert_eq!(
        choice["token_logprobs"].as_array().unwrap().len(),
        ids.len()
    );
    let lp = &choice["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), ids.len());
    // Greedy: each chosen token is its position's most likely one.
    for (t, top) in lp["token_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(lp["top_logprobs"].as_array().unwrap())
    {
        let best = top
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert!((t.as_f64().unwrap() - best).abs() < 1e-6);
    }
    assert!(
        full["prompt_token_ids"]
            .as_array()
            .is_some_and(|p| !p.is_empty())
    );
    // For RL: a sampled rollout's token log-probabilities are what the library's scorer gives
    // the same ids (temperature 1, the whole vocabulary).
    let chat_url = format!("{}/v1/chat/completions", server.url());
    let (_, rollout, _) = post(
        &chat_url,
        &chat(
            QUESTION,
            json!({"temperature": 0.9, "seed": 8, "return_token_ids": true}),
        ),
    );
    let ids = |v: &Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect()
    };
    let prompt = ids(&rollout["prompt_token_ids"]);
    let completion = ids(&rollout["choices"][0]["token_ids"]);
    let lm = load();
    let scored = reasoning_inference::score_continuations(&lm.model, &prompt, &[completion])
        .unwrap()
        .remove(0)
        .logprobs;
    let served: Vec<f64> = rollout["choices"][0]["token_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(served.len(), scored.len());
    for (a, b) in served.iter().zip(&scored) {
        assert!((a - f64::from(*b)).abs() < 1e-4, "{served:?} vs {scored:?}");
    }
    // ignore_eos: exactly max_tokens; min_tokens: at least that many, whatever the model says.
    let (_, fixed, _) = post(
        &url,
        &json!({"prompt": "12+7=", "max_tokens": 40, "temperature": 0, "ignore_eos": true}),
    );
    assert_eq!(fixed["usage"]["completion_tokens"], 40);
    assert_eq!(fixed["choices"][0]["finish_reason"], "length");
    let natural = full["usage"]["completion_tokens"].as_u64().unwrap();
    let (_, longer, _) = post(
        &url,
        &json!({"prompt": "12+7=", "max_tokens": 40, "temperature": 0, "min_tokens": natural + 3}),
    );
    assert!(longer["usage"]["completion_tokens"].as_u64().unwrap() >= natural + 3);
    // Cut at a stop string taken from the middle of that text.
    let chars: Vec<char> = text.chars().collect();
    assert!(chars.len() >= 6, "{text:?}");
    let stop: String = chars[3..5].iter().collect();
    let (_, cut, _) = post(
        &url,
        &json!({"prompt": "12+7=", "max_tokens": 24, "temperature": 0, "stop": [stop.clone()]}),
    );
    let cut_text = cut["choices"][0]["text"].as_str().unwrap();
    assert_eq!(cut_text, &text[..text.find(&stop).unwrap()]);
    assert_eq!(cut["choices"][0]["finish_reason"], "stop");
    server.shutdown();
}

#[test]
fn bad_requests_get_openais_errors() {
    let server = server(1, 0);
    let base = server.url();
    let chat_url = format!("{base}/v1/chat/completions");
    let cases = [
        (json!({"messages": "hi"}), 400, Some("messages")),
        (
            chat(QUESTION, json!({"temperature": 5})),
            400,
            Some("temperature"),
        ),
        (chat(QUESTION, json!({"n": 0})), 400, Some("n")),
        (
            chat(QUESTION, json!({"max_tokens": 1_000_000})),
            400,
            Some("max_tokens"),
        ),
        (
            chat(QUESTION, json!({"model": "gpt-9"})),
            404,
            Some("model"),
        ),
        (json!({"messages": []}), 400, Some("messages")),
    ];
    for (body, status, param) in cases {
        let (code, err, _) = post(&chat_url, &body);
        assert_eq!(code, status, "{body}: {err}");
        assert_eq!(err["error"]["param"].as_str(), param, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert!(err["error"]["type"].is_string());
    }
    // Not JSON at all.
    let r = ureq::post(&chat_url)
        .set("Content-Type", "application/json")
        .send_string("{oops");
    let Err(ureq::Error::Status(400, r)) = r else {
        panic!("bad JSON is a 400")
    };
    assert!(r.into_json::<Value>().unwrap()["error"]["message"].is_string());
    // Too large: answered before the body is sent (the client waits for 100 Continue).
    assert_eq!(declared_too_large(&server.addr().to_string()), 413);
    // Unknown route.
    let Err(ureq::Error::Status(404, _)) = ureq::get(&format!("{base}/v2/nothing")).call() else {
        panic!("unknown routes are 404s")
    };
    // A full server (one slot, no queue): a long stream holds the slot, the next is a 429.
    let mut long = chat(
        QUESTION,
        json!({"max_tokens": 400, "temperature": 1.0, "stream": true, "seed": 1}),
    );
    long["messages"][0]["content"] = json!("Tell me a long story.");
    let holder = ureq::post(&chat_url).send_json(long).unwrap();
    let mut lines = BufReader::new(holder.into_reader()).lines();
    let _first = lines.next();
    let (code, err, retry) = post(&chat_url, &chat(QUESTION, json!({})));
    assert_eq!(code, 429, "{err}");
    assert_eq!(retry.as_deref(), Some("1"));
    // The client leaves: its row stops and the slot frees within a few steps.
    drop(lines);
    let started = Instant::now();
    loop {
        let (code, _, _) = post(&chat_url, &chat(QUESTION, json!({"max_tokens": 2})));
        if code == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the slot was never freed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Nothing is left running: the metrics show the freed slot.
    let started = Instant::now();
    loop {
        let metrics = ureq::get(&format!("{base}/metrics"))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        if metrics.contains("reasoning_running_rows 0") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{metrics}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.shutdown();
}

#[test]
fn health_models_metrics_page_and_the_client() {
    let server = server(2, 2);
    let base = server.url();
    let health: Value = ureq::get(&format!("{base}/health"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(health["status"], "ok");
    let client = Client::new(format!("{base}/v1"), "default");
    let models = client.models().unwrap();
    assert_eq!(models.len(), 1);
    let reply = client
        .chat(
            &[("user", QUESTION)],
            &ChatSettings {
                max_tokens: 32,
                ..ChatSettings::default()
            },
        )
        .unwrap();
    assert!(!reply.content.is_empty() || reply.reasoning.is_some());
    let named = Client::new(format!("{base}/v1"), &models[0]);
    assert_eq!(
        named
            .chat(
                &[("user", QUESTION)],
                &ChatSettings {
                    max_tokens: 32,
                    ..ChatSettings::default()
                }
            )
            .unwrap(),
        reply
    );
    let err = Client::new(format!("{base}/v1"), "nope")
        .chat(&[("user", QUESTION)], &ChatSettings::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("404") && err.contains("nope"), "{err}");
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(metrics.contains("reasoning_requests_total 2"), "{metrics}");
    assert!(metrics.contains("reasoning_time_to_first_token_seconds_count 2"));
    let page = ureq::get(&format!("{base}/"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        page.contains("<title>reasoning chat</title>") && page.contains("/v1/chat/completions")
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing loaded from outside"
    );
    server.shutdown();
}

#[test]
fn a_kv_cache_budget_queues_what_does_not_fit_and_refuses_what_never_will() {
    let lm = load();
    let c = lm.model.config().clone();
    let per_token = 2 * c.num_hidden_layers * c.kv_dim() * 4;
    // Room for one row of 120 tokens: one request of 18 + 60 fits, two at once do not.
    let config = ServeConfig {
        port: 0,
        max_batch: 4,
        max_queue: 4,
        kv_budget_bytes: Some(120 * per_token),
        ..ServeConfig::default()
    };
    let server = start(lm, config, false).unwrap();
    let url = format!("{}/v1/chat/completions", server.url());
    let (code, err, _) = post(&url, &chat(QUESTION, json!({"max_tokens": 200})));
    assert_eq!(code, 400, "{err}");
    assert_eq!(err["error"]["code"], "kv_budget_exceeded");
    let bodies: Vec<Value> = (0..2)
        .map(|i| {
            chat(
                QUESTION,
                json!({"max_tokens": 60, "seed": i, "temperature": 0.8}),
            )
        })
        .collect();
    let alone: Vec<Value> = bodies.iter().map(|b| post(&url, b).1).collect();
    let together: Vec<Value> = std::thread::scope(|s| {
        let calls: Vec<_> = bodies
            .iter()
            .map(|b| {
                let url = url.clone();
                s.spawn(move || post(&url, b))
            })
            .collect();
        calls.into_iter().map(|h| h.join().unwrap().1).collect()
    });
    for (a, t) in alone.iter().zip(&together) {
        assert_eq!(
            a["choices"][0]["message"], t["choices"][0]["message"],
            "{t}"
        );
    }
    server.shutdown();
}
