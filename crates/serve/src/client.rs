//! A small blocking client for OpenAI-compatible servers (this one, vLLM, llama.cpp's
//! `llama-server`, Ollama, OpenRouter): chat completions with the sampling fields the book's
//! scripts use, and the reasoning split out when the server returns it.

use serde_json::{Value, json};

/// Errors from a server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error("{url}: HTTP {status}: {message}")]
    Status {
        /// The endpoint.
        url: String,
        /// The status.
        status: u16,
        /// OpenAI's `error.message`, or the body.
        message: String,
    },
    /// The server could not be reached, or its reply is not what OpenAI's API returns.
    #[error("{url}: {reason}")]
    Transport {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
}

/// An OpenAI-compatible endpoint: `http://HOST:PORT/v1` and a model name.
#[derive(Clone)]
pub struct Client {
    base: String,
    model: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// One chat request's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSettings {
    /// Most new tokens.
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f32,
    /// Top-p.
    pub top_p: f32,
    /// Seed, when the server honours one.
    pub seed: Option<u64>,
    /// Qwen3's thinking switch (`chat_template_kwargs.enable_thinking`), when set.
    pub enable_thinking: Option<bool>,
    /// Choices (`n`); [`Client::chat_choices`] returns them all.
    pub n: usize,
    /// Ask the server to ignore stop ids (vLLM's `ignore_eos`; for benchmarks of fixed length).
    pub ignore_eos: bool,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            max_tokens: 2048,
            temperature: 0.0,
            top_p: 1.0,
            seed: None,
            enable_thinking: None,
            n: 1,
            ignore_eos: false,
        }
    }
}

/// A chat reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// The answer.
    pub content: String,
    /// The think block, when the server split it off (`reasoning_content`, or `reasoning`).
    pub reasoning: Option<String>,
    /// `stop` or `length`.
    pub finish_reason: String,
    /// Generated tokens, when the server reports usage.
    pub completion_tokens: Option<usize>,
}

impl Client {
    /// A client of `base` (e.g. `http://127.0.0.1:8000/v1`) asking for `model`. The API key
    /// comes from `OPENAI_API_KEY` when set (see [`with_api_key`](Self::with_api_key)).
    /// Connecting times out after 10 s, a reply after 10 min.
    pub fn new(base: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_string(),
            model: model.into(),
            api_key: std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            agent: ureq::AgentBuilder::new()
                .timeout_connect(std::time::Duration::from_secs(10))
                .timeout_read(std::time::Duration::from_secs(600))
                .build(),
        }
    }

    /// Returns this client sending `key` as a bearer token (`None`: none). The key is never
    /// shown in errors or `Debug` output.
    pub fn with_api_key(self, key: Option<String>) -> Self {
        Self {
            api_key: key.filter(|k| !k.is_empty()),
            ..self
        }
    }

    /// The endpoint base.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The model id.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// `request` with the API key as a bearer token, when there is one.
    fn authorized(&self, request: ureq::Request) -> ureq::Request {
        match &self.api_key {
            Some(key) => request.set("Authorization", &format!("Bearer {key}")),
            None => request,
        }
    }

    /// Posts `body`, retrying up to three times (after 1, 2 and 4 s, or the server's
    /// `Retry-After`) when the server is unreachable, busy (429) or failing (500, 502, 503,
    /// 504).
    fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let mut attempt = 0;
        loop {
            match self.post_once(path, body) {
                Ok(v) => return Ok(v),
                Err((_, Some(wait))) if attempt < 3 => {
                    std::thread::sleep(std::time::Duration::from_secs(wait.max(1 << attempt)));
                    attempt += 1;
                }
                Err((error, _)) => return Err(error),
            }
        }
    }

    /// One attempt; a failure worth retrying comes with the seconds to wait (0: the default).
    fn post_once(&self, path: &str, body: &Value) -> Result<Value, (ClientError, Option<u64>)> {
        let url = format!("{}{path}", self.base);
        let req = self
            .authorized(self.agent.post(&url))
            .set("Content-Type", "application/json");
        match req.send_json(body.clone()) {
            Ok(resp) => resp.into_json().map_err(|e| {
                let reason = format!("the reply is not JSON: {e}");
                (ClientError::Transport { url, reason }, None)
            }),
            Err(ureq::Error::Status(status, resp)) => {
                let retry_after = resp
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let text = resp.into_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or(text);
                let retry = matches!(status, 429 | 500 | 502 | 503 | 504)
                    .then(|| retry_after.unwrap_or(0).min(60));
                let error = ClientError::Status {
                    url,
                    status,
                    message,
                };
                Err((error, retry))
            }
            Err(e) => {
                let reason = e.to_string();
                Err((ClientError::Transport { url, reason }, Some(0)))
            }
        }
    }

    /// The ids of the server's models (`GET /models`).
    pub fn models(&self) -> Result<Vec<String>, ClientError> {
        let url = format!("{}/models", self.base);
        let value: Value = self
            .authorized(self.agent.get(&url))
            .call()
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?
            .into_json()
            .map_err(|e| ClientError::Transport {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(value["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect())
    }

    /// One chat completion of `messages` (`(role, content)` pairs): the first choice.
    pub fn chat(
        &self,
        messages: &[(&str, &str)],
        settings: &ChatSettings,
    ) -> Result<ChatReply, ClientError> {
        let mut choices = self.chat_choices(messages, settings)?;
        Ok(choices.swap_remove(0))
    }

    /// Every choice of one chat completion (`settings.n` of them, sharing one prefill on
    /// servers that batch). A choice's `completion_tokens` is its own `token_ids` count when
    /// the server returns them, else the usage's total (one choice) or its even share.
    pub fn chat_choices(
        &self,
        messages: &[(&str, &str)],
        settings: &ChatSettings,
    ) -> Result<Vec<ChatReply>, ClientError> {
        let mut body = json!({
            "model": self.model,
            "messages": messages.iter().map(|(r, c)| json!({"role": r, "content": c})).collect::<Vec<_>>(),
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
        });
        if settings.n != 1 {
            body["n"] = json!(settings.n);
        }
        if settings.ignore_eos {
            body["ignore_eos"] = json!(true);
        }
        if let Some(seed) = settings.seed {
            body["seed"] = json!(seed);
        }
        if let Some(t) = settings.enable_thinking {
            body["chat_template_kwargs"] = json!({"enable_thinking": t});
        }
        let url = format!("{}/chat/completions", self.base);
        let v = self.post("/chat/completions", &body)?;
        let choices = v["choices"]
            .as_array()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ClientError::Transport {
                url: url.clone(),
                reason: format!("no choices in the reply: {v}"),
            })?;
        let total = v["usage"]["completion_tokens"].as_u64().map(|n| n as usize);
        choices
            .iter()
            .map(|choice| {
                let content = choice["message"]["content"].as_str().ok_or_else(|| {
                    ClientError::Transport {
                        url: url.clone(),
                        reason: format!("a choice has no message.content: {choice}"),
                    }
                })?;
                let reasoning = choice["message"]["reasoning_content"]
                    .as_str()
                    .or_else(|| choice["message"]["reasoning"].as_str())
                    .filter(|r| !r.is_empty())
                    .map(str::to_string);
                let completion_tokens = choice["token_ids"]
                    .as_array()
                    .map(Vec::len)
                    .or_else(|| total.map(|t| t / choices.len()));
                Ok(ChatReply {
                    content: content.to_string(),
                    reasoning,
                    finish_reason: choice["finish_reason"]
                        .as_str()
                        .unwrap_or("stop")
                        .to_string(),
                    completion_tokens,
                })
            })
            .collect()
    }
}
