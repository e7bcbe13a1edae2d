//! OpenAI's request and error shapes, and their checks.
//!
//! Requests are read leniently where OpenAI's clients send fields this server does not use
//! (`user`, `frequency_penalty` at 0, `response_format`, ...: ignored) and strictly where a
//! value would change what is generated: a wrong type or an out-of-range value is a 400 naming
//! the field (`param`), never a silent default.

use serde::Deserialize;
use serde_json::{Value, json};

/// An error in OpenAI's JSON shape: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// What is wrong, for a person.
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `not_found_error`, `rate_limit_error`, ...
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, `context_length_exceeded`, ...).
    pub code: Option<&'static str>,
}

impl ApiError {
    /// A 400 naming the field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param: Some(param.into()),
            code: None,
        }
    }

    /// The error's JSON body.
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// A message's `content`: a string, or OpenAI's array of parts (text parts only).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": "..."}]`.
    Parts(Vec<Part>),
}

/// One part of an array `content`.
#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    /// `text` is the only type this server reads.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    #[serde(default)]
    pub text: Option<String>,
}

/// One chat message.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant` (`developer` is read as `system`).
    pub role: String,
    /// Its text; `null` is allowed for an assistant turn.
    #[serde(default)]
    pub content: Option<Content>,
}

/// `stop`: one string or up to four.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with the token counts.
    #[serde(default)]
    pub include_usage: bool,
}

/// `chat_template_kwargs` (vLLM's and SGLang's way to switch Qwen3's thinking).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChatTemplateKwargs {
    /// Qwen3's thinking switch.
    #[serde(default)]
    pub enable_thinking: Option<bool>,
}

/// The sampling fields both endpoints share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SamplingFields {
    /// The served model's id (optional; any other id is a 404).
    #[serde(default)]
    pub model: Option<String>,
    /// Most new tokens per choice.
    #[serde(default)]
    pub max_tokens: Option<i64>,
    /// The newer name of `max_tokens` (chat).
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    /// 0 is greedy; at most 2.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// In (0, 1].
    #[serde(default)]
    pub top_p: Option<f64>,
    /// Top-k (vLLM's extension); -1 or absent for none.
    #[serde(default)]
    pub top_k: Option<i64>,
    /// The same seed gives the same text (any integer; taken modulo 2⁶⁴).
    #[serde(default)]
    pub seed: Option<i128>,
    /// Stop strings (not included in the output).
    #[serde(default)]
    pub stop: Option<Stop>,
    /// Choices per request; they share one prefill.
    #[serde(default)]
    pub n: Option<i64>,
    /// Server-sent events.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Streaming options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// Opt-in for RL rollouts: return the prompt's and each choice's token ids, and each
    /// sampled token's log-probability under the model (temperature 1, whole vocabulary).
    #[serde(default)]
    pub return_token_ids: Option<bool>,
    /// Stop ids are not drawn before this many tokens (vLLM's extension).
    #[serde(default)]
    pub min_tokens: Option<i64>,
    /// Never stop at a stop id, only at `max_tokens` (vLLM's extension, for benchmarks).
    #[serde(default)]
    pub ignore_eos: Option<bool>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// The conversation.
    pub messages: Vec<Message>,
    /// Return log-probabilities of the chosen tokens.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// With `logprobs`: this many alternatives per position (0-20).
    #[serde(default)]
    pub top_logprobs: Option<i64>,
    /// Template switches.
    #[serde(default)]
    pub chat_template_kwargs: Option<ChatTemplateKwargs>,
    /// Everything about sampling (read from the same object by [`parse_chat`]).
    #[serde(skip)]
    pub sampling: SamplingFields,
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// The raw prompt: a string (or a one-string array).
    pub prompt: Value,
    /// Legacy completions' `logprobs`: alternatives per position (0-5 in OpenAI's API; 0-20
    /// here).
    #[serde(default)]
    pub logprobs: Option<i64>,
    /// Everything about sampling (read from the same object by [`parse_completion`]).
    #[serde(skip)]
    pub sampling: SamplingFields,
}

/// The checked sampling settings of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Most new tokens per choice (`None`: until the context ends, capped by the server).
    pub max_tokens: Option<usize>,
    /// 0 for greedy.
    pub temperature: f32,
    /// 1 for none.
    pub top_p: f32,
    /// `None` for none.
    pub top_k: Option<usize>,
    /// The request's seed.
    pub seed: Option<u64>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Choices.
    pub n: usize,
    /// Stream the reply.
    pub stream: bool,
    /// Last chunk with usage.
    pub include_usage: bool,
    /// Alternatives per position when log-probabilities are asked for.
    pub logprobs: Option<usize>,
    /// Return token ids (RL rollouts).
    pub return_token_ids: bool,
    /// Tokens before a stop id may be drawn (`usize::MAX` with `ignore_eos`).
    pub min_tokens: usize,
}

fn int_in(param: &str, value: i64, lo: i64, hi: i64) -> Result<usize, ApiError> {
    if value < lo || value > hi {
        return Err(ApiError::invalid(
            param,
            format!("{param} = {value} is out of range: it must be in [{lo}, {hi}]"),
        ));
    }
    Ok(value as usize)
}

impl SamplingFields {
    /// Checks every field; `logprobs` is the endpoint's own reading of its log-probability
    /// fields.
    pub fn settings(&self, logprobs: Option<usize>) -> Result<Settings, ApiError> {
        let max_tokens = match (self.max_completion_tokens, self.max_tokens) {
            (Some(m), _) => Some(int_in("max_completion_tokens", m, 1, i64::MAX)?),
            (None, Some(m)) => Some(int_in("max_tokens", m, 1, i64::MAX)?),
            (None, None) => None,
        };
        let temperature = self.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(
                "temperature",
                format!("temperature = {temperature} is out of range: it must be in [0, 2]"),
            ));
        }
        let top_p = self.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::invalid(
                "top_p",
                format!("top_p = {top_p} is out of range: it must be in (0, 1]"),
            ));
        }
        let top_k = match self.top_k {
            None | Some(-1) | Some(0) => None,
            Some(k) => Some(int_in("top_k", k, 1, 1 << 20)?),
        };
        let seed = self.seed.map(|s| s as u64);
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if stop.len() > 4 || stop.iter().any(String::is_empty) {
            return Err(ApiError::invalid(
                "stop",
                "stop takes up to 4 non-empty strings",
            ));
        }
        let n = int_in("n", self.n.unwrap_or(1), 1, 16)?;
        let stream = self.stream.unwrap_or(false);
        let include_usage = self
            .stream_options
            .as_ref()
            .is_some_and(|o| o.include_usage);
        if include_usage && !stream {
            return Err(ApiError::invalid(
                "stream_options",
                "stream_options is only allowed with stream: true",
            ));
        }
        Ok(Settings {
            max_tokens,
            temperature: temperature as f32,
            top_p: top_p as f32,
            top_k,
            seed,
            stop,
            n,
            stream,
            include_usage,
            logprobs,
            return_token_ids: self.return_token_ids.unwrap_or(false),
            min_tokens: if self.ignore_eos.unwrap_or(false) {
                usize::MAX
            } else {
                self.min_tokens
                    .map(|m| int_in("min_tokens", m, 0, i64::MAX))
                    .transpose()?
                    .unwrap_or(0)
            },
        })
    }
}

impl ChatRequest {
    /// The log-probability setting: `None`, or the number of alternatives.
    pub fn logprobs(&self) -> Result<Option<usize>, ApiError> {
        match (self.logprobs.unwrap_or(false), self.top_logprobs) {
            (false, Some(_)) => Err(ApiError::invalid(
                "top_logprobs",
                "top_logprobs needs logprobs: true",
            )),
            (false, None) => Ok(None),
            (true, k) => Ok(Some(int_in("top_logprobs", k.unwrap_or(0), 0, 20)?)),
        }
    }

    /// The messages as the chat template takes them, after checking roles and contents.
    pub fn chat_messages(&self) -> Result<Vec<reasoning_tokenizer::ChatMessage>, ApiError> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid("messages", "messages must not be empty"));
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let role = match m.role.as_str() {
                    "system" | "developer" => "system",
                    "user" => "user",
                    "assistant" => "assistant",
                    other => {
                        return Err(ApiError::invalid(
                            format!("messages[{i}].role"),
                            format!(
                                "role {other:?} is not supported: use system, user or assistant"
                            ),
                        ));
                    }
                };
                let text = match &m.content {
                    None if role == "assistant" => String::new(),
                    None => {
                        return Err(ApiError::invalid(
                            format!("messages[{i}].content"),
                            "content is required",
                        ));
                    }
                    Some(Content::Text(t)) => t.clone(),
                    Some(Content::Parts(parts)) => {
                        let mut text = String::new();
                        for (j, p) in parts.iter().enumerate() {
                            match (p.kind.as_str(), &p.text) {
                                ("text", Some(t)) => text.push_str(t),
                                (kind, _) => {
                                    return Err(ApiError::invalid(
                                        format!("messages[{i}].content[{j}]"),
                                        format!("content part of type {kind:?} is not supported (text only)"),
                                    ));
                                }
                            }
                        }
                        text
                    }
                };
                Ok(reasoning_tokenizer::ChatMessage::new(role, text))
            })
            .collect()
    }
}

impl CompletionRequest {
    /// The prompt text: a string or a one-string array.
    pub fn prompt_text(&self) -> Result<String, ApiError> {
        match &self.prompt {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::Array(a) if a.len() == 1 && a[0].as_str().is_some_and(|s| !s.is_empty()) => {
                Ok(a[0].as_str().unwrap_or_default().to_string())
            }
            _ => Err(ApiError::invalid(
                "prompt",
                "prompt must be a non-empty string (or an array of one)",
            )),
        }
    }

    /// The log-probability setting.
    pub fn logprobs_setting(&self) -> Result<Option<usize>, ApiError> {
        self.logprobs
            .map(|k| int_in("logprobs", k, 0, 20))
            .transpose()
    }
}

/// Reads `T` from a JSON value, turning serde's error into a 400 that names the field.
fn from_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError {
            status: 400,
            message: format!("invalid request body: {inner}"),
            kind: "invalid_request_error",
            param: (path != ".").then_some(path),
            code: None,
        }
    })
}

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError {
        status: 400,
        message: format!("the request body is not valid JSON: {e}"),
        kind: "invalid_request_error",
        param: None,
        code: None,
    })?;
    if !value.is_object() {
        return Err(ApiError {
            status: 400,
            message: "the request body must be a JSON object".into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        });
    }
    Ok(value)
}

/// Parses a chat request body; errors name the field.
pub fn parse_chat(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let value = object(body)?;
    let mut req: ChatRequest = from_value(&value)?;
    req.sampling = from_value(&value)?;
    Ok(req)
}

/// Parses a completion request body; errors name the field.
pub fn parse_completion(body: &[u8]) -> Result<CompletionRequest, ApiError> {
    let value = object(body)?;
    let mut req: CompletionRequest = from_value(&value)?;
    req.sampling = from_value(&value)?;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_out_of_range_are_named() {
        let bad = [
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"temperature":3}"#,
                "temperature",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"top_p":0}"#,
                "top_p",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"n":0}"#,
                "n",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
                "max_tokens",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"stop":["a","b","c","d","e"]}"#,
                "stop",
            ),
            (
                r#"{"messages":[{"role":"user","content":"hi"}],"top_logprobs":3}"#,
                "top_logprobs",
            ),
        ];
        for (body, param) in bad {
            let req = parse_chat(body.as_bytes()).unwrap();
            let err = req
                .logprobs()
                .and_then(|l| req.sampling.settings(l))
                .unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}");
            assert_eq!(err.status, 400);
        }
        let err =
            parse_chat(br#"{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#)
                .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("temperature"), "{err}");
        let err = parse_chat(b"{").unwrap_err();
        assert_eq!(err.status, 400);
        let req = parse_chat(br#"{"messages":[]}"#).unwrap();
        assert_eq!(
            req.chat_messages().unwrap_err().param.as_deref(),
            Some("messages")
        );
        let req = parse_chat(br#"{"messages":[{"role":"tool","content":"x"}]}"#).unwrap();
        assert_eq!(
            req.chat_messages().unwrap_err().param.as_deref(),
            Some("messages[0].role")
        );
    }

    #[test]
    fn contents_may_be_strings_or_text_parts() {
        let req = parse_chat(
            br#"{"messages":[{"role":"developer","content":"be brief"},
                 {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                 {"role":"assistant","content":null}], "user": "ignored"}"#,
        )
        .unwrap();
        let m = req.chat_messages().unwrap();
        assert_eq!(
            (m[0].role.as_str(), m[0].content.as_str()),
            ("system", "be brief")
        );
        assert_eq!(m[1].content, "ab");
        assert_eq!(m[2].content, "");
        let s = req.sampling.settings(None).unwrap();
        assert_eq!(
            (s.n, s.temperature, s.top_p, s.stream),
            (1, 1.0, 1.0, false)
        );
    }
}
