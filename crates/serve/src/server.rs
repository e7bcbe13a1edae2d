//! The HTTP side: routes, OpenAI's response shapes, server-sent events, admission control and
//! shutdown. One engine thread computes (see [`crate::engine`]); the handlers only check
//! requests, render prompts and turn engine events into JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use reasoning_inference::{LoadedModel, SamplingParams};
use reasoning_tokenizer::{ChatOptions, Tokenizer};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::api::{ApiError, Settings, parse_chat, parse_completion};
use crate::engine::{self, EngineLimits, Event, Finish, Job, SeedCounter, TokenLogprob};
use crate::metrics::Metrics;
use crate::reply::ChoiceText;

/// Where and how much the server serves.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on (`127.0.0.1` keeps it on this machine).
    pub host: String,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Choices decoded together at most.
    pub max_batch: usize,
    /// Requests that may wait for a batch slot; more get a 429.
    pub max_queue: usize,
    /// Largest request body in bytes; larger gets a 413.
    pub max_body_bytes: usize,
    /// New tokens per choice when a request does not say (capped by the context).
    pub default_max_tokens: usize,
    /// Most bytes the batch's KV cache may reach (every row padded to the longest); requests
    /// wait in the queue until they fit, and one that could never fit gets a 400. `None`: only
    /// `max_batch` bounds it.
    pub kv_budget_bytes: Option<usize>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8000,
            max_batch: 8,
            max_queue: 64,
            max_body_bytes: 4 << 20,
            default_max_tokens: 2048,
            kv_budget_bytes: None,
        }
    }
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// The runtime or a thread could not start.
    #[error("cannot start the server: {0}")]
    Start(std::io::Error),
}

struct AppState {
    limits: EngineLimits,
    name: String,
    tokenizer: Arc<Tokenizer>,
    context: usize,
    stop_ids: Vec<u32>,
    jobs: std::sync::mpsc::Sender<Job>,
    metrics: Arc<Metrics>,
    seeds: SeedCounter,
    in_flight: AtomicUsize,
    capacity: usize,
    default_max_tokens: usize,
    counter: AtomicUsize,
}

/// A running server: its address, and the handle that stops it.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    http: Option<std::thread::JoinHandle<()>>,
    engine: Option<std::thread::JoinHandle<()>>,
}

impl RunningServer {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting connections, lets open requests finish, and joins the threads.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.join();
    }

    /// Blocks until the server stops (Ctrl-C or SIGTERM, when started with signals).
    pub fn wait(mut self) {
        self.join();
    }

    fn join(&mut self) {
        if let Some(h) = self.http.take() {
            let _ = h.join();
        }
        if let Some(h) = self.engine.take() {
            let _ = h.join();
        }
    }
}

/// Starts the engine thread and the HTTP server on their own threads and returns once the
/// address is bound. With `signals`, Ctrl-C and SIGTERM stop the server gracefully: no new
/// connections, open streams finish.
///
/// # Errors
/// [`ServeError::Bind`] when the address is taken; [`ServeError::Config`] for a zero batch.
pub fn start(
    lm: LoadedModel,
    config: ServeConfig,
    signals: bool,
) -> Result<RunningServer, ServeError> {
    if config.max_batch == 0 {
        return Err(ServeError::Config("max_batch must be at least 1".into()));
    }
    let LoadedModel {
        model,
        tokenizer,
        name,
    } = lm;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = std::net::TcpListener::bind(&addr).map_err(|source| ServeError::Bind {
        addr: addr.clone(),
        source,
    })?;
    listener.set_nonblocking(true).map_err(ServeError::Start)?;
    let local = listener.local_addr().map_err(ServeError::Start)?;
    let metrics = Arc::new(Metrics::default());
    let (jobs, rx) = std::sync::mpsc::channel();
    let cfg = model.config();
    // Keys and values are stored in the activations' dtype, f32 even for a bf16 model on
    // burn-flex; 4 bytes is the upper bound.
    let value_bytes = 4;
    let limits = EngineLimits {
        max_batch: config.max_batch,
        vocab_limit: tokenizer.vocab_size().min(cfg.vocab_size),
        kv_budget_bytes: config.kv_budget_bytes,
        kv_bytes_per_token: 2 * cfg.num_hidden_layers * cfg.kv_dim() * value_bytes,
    };
    let mut stop_ids = tokenizer.eos_token_ids().to_vec();
    if stop_ids.is_empty() {
        stop_ids = model.config().eos_token_id.clone();
    }
    let context = model.config().max_position_embeddings;
    let engine_metrics = Arc::clone(&metrics);
    let engine = std::thread::Builder::new()
        .name("reasoning-engine".into())
        .spawn(move || {
            reasoning_model::runtime::in_pool(|| engine::run(&model, limits, rx, &engine_metrics));
        })
        .map_err(ServeError::Start)?;
    let state = Arc::new(AppState {
        limits,
        name,
        tokenizer: Arc::new(tokenizer),
        context,
        stop_ids,
        jobs,
        metrics,
        seeds: SeedCounter::default(),
        in_flight: AtomicUsize::new(0),
        capacity: config.max_batch + config.max_queue,
        default_max_tokens: config.default_max_tokens.max(1),
        counter: AtomicUsize::new(0),
    });
    let app = router(state, config.max_body_bytes);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Start)?;
    let http = std::thread::Builder::new()
        .name("reasoning-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(_) => return,
                };
                let shutdown = async move {
                    if signals {
                        tokio::select! {
                            _ = stop_rx => {}
                            _ = shutdown_signal() => {}
                        }
                    } else {
                        let _ = stop_rx.await;
                    }
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await;
            });
            // Dropping the runtime drops the state and with it the engine's job channel.
        })
        .map_err(ServeError::Start)?;
    Ok(RunningServer {
        addr: local,
        stop: Some(stop_tx),
        http: Some(http),
        engine: Some(engine),
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn router(state: Arc<AppState>, max_body: usize) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            max_body,
            declared_size,
        ))
        .with_state(state)
}

/// Answers 413 before reading a body whose declared `Content-Length` is over the limit, so a
/// client that waits for `100 Continue` (curl does for large bodies) gets the error at once.
/// Bodies without a declared length are cut at the limit while being read.
async fn declared_size(
    State(max): State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared.filter(|&len| len > max as u64) {
        return error(ApiError {
            status: 413,
            message: format!("the request body has {len} bytes; the limit is {max}"),
            kind: "invalid_request_error",
            param: None,
            code: Some("request_too_large"),
        });
    }
    next.run(request).await
}

fn error(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = (status, axum::Json(e.body())).into_response();
    if e.status == 429 || e.status == 503 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn models(State(s): State<Arc<AppState>>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{"id": s.name, "object": "model", "created": 0, "owned_by": "reasoning-rs",
                  "max_model_len": s.context}],
    }))
    .into_response()
}

async fn not_found() -> Response {
    error(ApiError {
        status: 404,
        message: "no such route; the API is under /v1 (chat/completions, completions, models)"
            .into(),
        kind: "not_found_error",
        param: None,
        code: None,
    })
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        let status = r.status().as_u16();
        ApiError {
            status,
            message: format!("cannot read the request body: {}", r.body_text()),
            kind: "invalid_request_error",
            param: None,
            code: (status == 413).then_some("request_too_large"),
        }
    })
}

/// Which endpoint a reply is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Completion,
}

async fn chat(State(s): State<Arc<AppState>>, body: Result<Bytes, BytesRejection>) -> Response {
    let prepared = (|| {
        let body = body_bytes(body)?;
        let req = parse_chat(&body)?;
        check_model(&s, req.sampling.model.as_deref())?;
        let logprobs = req.logprobs()?;
        let settings = req.sampling.settings(logprobs)?;
        let messages = req.chat_messages()?;
        let mut opts = ChatOptions::generation();
        if let Some(thinking) = req
            .chat_template_kwargs
            .as_ref()
            .and_then(|k| k.enable_thinking)
        {
            opts = opts.thinking(thinking);
        }
        let prompt = s
            .tokenizer
            .encode_chat(&messages, &opts)
            .map_err(|e| ApiError::invalid("messages", format!("cannot render the chat: {e}")))?;
        Ok((prompt, settings))
    })();
    respond(s, prepared, Kind::Chat).await
}

async fn completions(
    State(s): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let prepared = (|| {
        let body = body_bytes(body)?;
        let req = parse_completion(&body)?;
        check_model(&s, req.sampling.model.as_deref())?;
        let settings = req.sampling.settings(req.logprobs_setting()?)?;
        let text = req.prompt_text()?;
        let prompt = s
            .tokenizer
            .encode(&text)
            .map_err(|e| ApiError::invalid("prompt", format!("cannot tokenize the prompt: {e}")))?;
        if prompt.is_empty() {
            return Err(ApiError::invalid("prompt", "the prompt has no tokens"));
        }
        Ok((prompt, settings))
    })();
    respond(s, prepared, Kind::Completion).await
}

fn check_model(s: &AppState, model: Option<&str>) -> Result<(), ApiError> {
    match model {
        Some(m) if m != s.name && m != "default" => Err(ApiError {
            status: 404,
            message: format!(
                "the model {m:?} does not exist; this server serves {:?}",
                s.name
            ),
            kind: "not_found_error",
            param: Some("model".into()),
            code: Some("model_not_found"),
        }),
        _ => Ok(()),
    }
}

/// Counts a request in flight until dropped.
struct Admission(Arc<AppState>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

async fn respond(
    s: Arc<AppState>,
    prepared: Result<(Vec<u32>, Settings), ApiError>,
    kind: Kind,
) -> Response {
    let result = async {
        let (prompt, settings) = prepared?;
        let room = s.context.saturating_sub(prompt.len());
        if room == 0 {
            return Err(ApiError {
                status: 400,
                message: format!(
                    "the prompt has {} tokens; the model's context is {}",
                    prompt.len(),
                    s.context
                ),
                kind: "invalid_request_error",
                param: Some("messages".into()),
                code: Some("context_length_exceeded"),
            });
        }
        let max_tokens = match settings.max_tokens {
            Some(m) if m > room => {
                return Err(ApiError {
                    status: 400,
                    message: format!(
                        "max_tokens = {m} does not fit: the prompt has {} tokens and the context \
                         is {}, so at most {room} can be generated",
                        prompt.len(),
                        s.context
                    ),
                    kind: "invalid_request_error",
                    param: Some("max_tokens".into()),
                    code: Some("context_length_exceeded"),
                });
            }
            Some(m) => m,
            None => room.min(s.default_max_tokens),
        };
        if let Some(budget) = s.limits.kv_budget_bytes {
            let need = s.limits.peak_bytes_of(settings.n, prompt.len(), max_tokens);
            if need > budget {
                return Err(ApiError {
                    status: 400,
                    message: format!(
                        "this request needs up to {} MB of KV cache ({} choices of {} + {} \
                         tokens); the server's budget is {} MB: ask for fewer tokens or choices",
                        need >> 20,
                        settings.n,
                        prompt.len(),
                        max_tokens,
                        budget >> 20
                    ),
                    kind: "invalid_request_error",
                    param: Some("max_tokens".into()),
                    code: Some("kv_budget_exceeded"),
                });
            }
        }
        if s.in_flight.fetch_add(1, Ordering::AcqRel) >= s.capacity {
            s.in_flight.fetch_sub(1, Ordering::AcqRel);
            s.metrics.rejected();
            return Err(ApiError {
                status: 429,
                message: "the server is busy: every batch slot and queue place is taken; retry \
                          shortly"
                    .into(),
                kind: "rate_limit_error",
                param: None,
                code: Some("queue_full"),
            });
        }
        let admission = Admission(Arc::clone(&s));
        let sampling = (settings.temperature > 0.0).then(|| {
            let p = SamplingParams::temperature(settings.temperature).with_top_p(settings.top_p);
            match settings.top_k {
                Some(k) => p.with_top_k(k),
                None => p,
            }
        });
        let (events, rx) = unbounded_channel();
        let cancel: Arc<[AtomicBool]> = (0..settings.n).map(|_| AtomicBool::new(false)).collect();
        let logprobs = settings.logprobs.or(settings.return_token_ids.then_some(0));
        let job = Job {
            prompt: prompt.clone(),
            n: settings.n,
            sampling,
            seed: settings.seed.unwrap_or_else(|| s.seeds.next()),
            max_tokens,
            stop_ids: s.stop_ids.clone(),
            min_tokens: settings.min_tokens,
            logprobs,
            cancel: Arc::clone(&cancel),
            events,
            arrived: Instant::now(),
        };
        if s.jobs.send(job).is_err() {
            return Err(ApiError {
                status: 503,
                message: "the engine has stopped (the server is shutting down)".into(),
                kind: "server_error",
                param: None,
                code: None,
            });
        }
        s.metrics.request();
        let id = s.counter.fetch_add(1, Ordering::Relaxed);
        let reply = Reply {
            state: Arc::clone(&s),
            kind,
            id: match kind {
                Kind::Chat => format!("chatcmpl-{id}"),
                Kind::Completion => format!("cmpl-{id}"),
            },
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            prompt,
            choices: (0..settings.n)
                .map(|_| ChoiceText::new(settings.stop.clone(), kind == Kind::Chat))
                .collect(),
            cancel,
            settings,
            _admission: admission,
        };
        Ok((reply, rx))
    }
    .await;
    match result {
        Err(e) => {
            s.metrics.error();
            error(e)
        }
        Ok((reply, rx)) if reply.settings.stream => stream(reply, rx),
        Ok((reply, rx)) => whole(reply, rx).await,
    }
}

/// One request's replies in the making.
struct Reply {
    state: Arc<AppState>,
    kind: Kind,
    id: String,
    created: u64,
    prompt: Vec<u32>,
    choices: Vec<ChoiceText>,
    cancel: Arc<[AtomicBool]>,
    settings: Settings,
    _admission: Admission,
}

impl Reply {
    fn tokenizer(&self) -> &Tokenizer {
        &self.state.tokenizer
    }

    /// Applies one engine event; returns the choice it touched.
    fn apply(&mut self, event: Event) -> usize {
        match event {
            Event::Token {
                choice,
                id,
                logprob,
            } => {
                let tok = Arc::clone(&self.state.tokenizer);
                if self.choices[choice].push(&tok, id, logprob) {
                    // A stop string ended it: the engine drops the row before its next step.
                    self.cancel[choice].store(true, Ordering::Relaxed);
                }
                choice
            }
            Event::Finished { choice, finish } => {
                self.choices[choice].finish(match finish {
                    Finish::Stop => "stop",
                    Finish::Length => "length",
                });
                choice
            }
        }
    }

    fn done(&self) -> bool {
        self.choices.iter().all(|c| c.finish_reason().is_some())
    }

    fn usage(&self) -> Value {
        let completion: usize = self.choices.iter().map(|c| c.ids().len()).sum();
        json!({
            "prompt_tokens": self.prompt.len(),
            "completion_tokens": completion,
            "total_tokens": self.prompt.len() + completion,
        })
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.kind, chunk) {
            (Kind::Chat, false) => "chat.completion",
            (Kind::Chat, true) => "chat.completion.chunk",
            (Kind::Completion, _) => "text_completion",
        }
    }

    fn logprob_json(&self, id: u32, lp: &TokenLogprob) -> Value {
        let tok = self.tokenizer();
        let piece = |id: u32| tok.decode(&[id], false).unwrap_or_default();
        let entry = |id: u32, logprob: f32| {
            let text = piece(id);
            json!({"token": text, "logprob": logprob, "bytes": text.as_bytes()})
        };
        let mut e = entry(id, lp.logprob);
        e["top_logprobs"] = lp.top.iter().map(|&(i, l)| entry(i, l)).collect();
        e
    }

    fn logprobs_json(&self, c: &ChoiceText, from: usize) -> Value {
        if self.settings.logprobs.is_none() {
            return Value::Null;
        }
        let entries: Vec<Value> = c.logprobs()[from..]
            .iter()
            .map(|(id, lp)| self.logprob_json(*id, lp))
            .collect();
        match self.kind {
            Kind::Chat => json!({"content": entries}),
            Kind::Completion => json!({
                "tokens": entries.iter().map(|e| e["token"].clone()).collect::<Vec<_>>(),
                "token_logprobs": entries.iter().map(|e| e["logprob"].clone()).collect::<Vec<_>>(),
                "top_logprobs": entries.iter().map(|e| {
                    let mut m = serde_json::Map::new();
                    for t in e["top_logprobs"].as_array().into_iter().flatten() {
                        m.insert(t["token"].as_str().unwrap_or_default().to_string(), t["logprob"].clone());
                    }
                    Value::Object(m)
                }).collect::<Vec<_>>(),
            }),
        }
    }

    fn finish_metrics(&self) {
        let completion: usize = self.choices.iter().map(|c| c.ids().len()).sum();
        self.state.metrics.tokens(self.prompt.len(), completion);
    }
}

async fn whole(mut reply: Reply, mut rx: UnboundedReceiver<Event>) -> Response {
    while !reply.done() {
        match rx.recv().await {
            Some(event) => {
                reply.apply(event);
            }
            None => break,
        }
    }
    reply.finish_metrics();
    let choices: Vec<Value> = reply
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = match reply.kind {
                Kind::Chat => {
                    let (reasoning, content) = c.split();
                    let mut message = json!({"role": "assistant", "content": content});
                    if !reasoning.is_empty() {
                        message["reasoning_content"] = json!(reasoning);
                    }
                    json!({"index": i, "message": message})
                }
                Kind::Completion => json!({"index": i, "text": c.text()}),
            };
            v["logprobs"] = reply.logprobs_json(c, 0);
            v["finish_reason"] = json!(c.finish_reason().unwrap_or("length"));
            if reply.settings.return_token_ids {
                v["token_ids"] = json!(c.ids());
                v["token_logprobs"] = json!(
                    c.logprobs()
                        .iter()
                        .map(|(_, l)| l.logprob)
                        .collect::<Vec<_>>()
                );
            }
            v
        })
        .collect();
    let mut body = json!({
        "id": reply.id,
        "object": reply.object(false),
        "created": reply.created,
        "model": reply.state.name,
        "choices": choices,
        "usage": reply.usage(),
    });
    if reply.settings.return_token_ids {
        body["prompt_token_ids"] = json!(reply.prompt);
    }
    axum::Json(body).into_response()
}

fn stream(mut reply: Reply, mut rx: UnboundedReceiver<Event>) -> Response {
    let (tx, out) = unbounded_channel::<Result<SseEvent, Infallible>>();
    tokio::spawn(async move {
        let send = |v: Value| tx.send(Ok(SseEvent::default().data(v.to_string()))).is_ok();
        let chunk = |reply: &Reply, choices: Vec<Value>| {
            json!({
                "id": reply.id,
                "object": reply.object(true),
                "created": reply.created,
                "model": reply.state.name,
                "choices": choices,
            })
        };
        if reply.kind == Kind::Chat {
            let first: Vec<Value> = (0..reply.choices.len())
                .map(|i| {
                    json!({"index": i, "delta": {"role": "assistant", "content": ""},
                                "logprobs": null, "finish_reason": null})
                })
                .collect();
            if !send(chunk(&reply, first)) {
                return;
            }
        }
        let mut sent_logprobs = vec![0usize; reply.choices.len()];
        let mut finished_sent = vec![false; reply.choices.len()];
        while let Some(event) = rx.recv().await {
            let i = reply.apply(event);
            let c = &mut reply.choices[i];
            let (reasoning, content) = c.take_deltas();
            let from = sent_logprobs[i];
            sent_logprobs[i] = c.logprobs().len();
            let finish = c.finish_reason();
            let mut items = Vec::new();
            if !reasoning.is_empty() || !content.is_empty() || from < sent_logprobs[i] {
                let mut v = match reply.kind {
                    Kind::Chat => {
                        let mut delta = json!({});
                        if !reasoning.is_empty() {
                            delta["reasoning_content"] = json!(reasoning);
                        }
                        if !content.is_empty() {
                            delta["content"] = json!(content);
                        }
                        json!({"index": i, "delta": delta})
                    }
                    Kind::Completion => json!({"index": i, "text": content}),
                };
                v["logprobs"] = reply.logprobs_json(&reply.choices[i], from);
                v["finish_reason"] = Value::Null;
                if reply.settings.return_token_ids {
                    v["token_ids"] = json!(reply.choices[i].ids()[from..]);
                }
                items.push(v);
            }
            if let Some(reason) = finish.filter(|_| !finished_sent[i]) {
                finished_sent[i] = true;
                items.push(match reply.kind {
                    Kind::Chat => {
                        json!({"index": i, "delta": {}, "logprobs": null, "finish_reason": reason})
                    }
                    Kind::Completion => {
                        json!({"index": i, "text": "", "logprobs": null, "finish_reason": reason})
                    }
                });
            }
            for item in items {
                if !send(chunk(&reply, vec![item])) {
                    return; // the client left: dropping `rx` stops the engine's rows
                }
            }
            if reply.done() {
                break;
            }
        }
        reply.finish_metrics();
        if reply.settings.include_usage {
            let mut last = chunk(&reply, Vec::new());
            last["usage"] = reply.usage();
            if reply.settings.return_token_ids {
                last["prompt_token_ids"] = json!(reply.prompt);
            }
            send(last);
        }
        let _ = tx.send(Ok(SseEvent::default().data("[DONE]")));
    });
    let events =
        futures_util::stream::unfold(
            out,
            |mut out| async move { out.recv().await.map(|e| (e, out)) },
        );
    Sse::new(events).into_response()
}
