//! Chat templates: the model's own Jinja template, rendered as transformers renders it.
//!
//! A chat model is trained on conversations laid out in one exact text format, for Qwen3 and
//! SmolLM2 the ChatML layout:
//!
//! ```text
//! <|im_start|>system\nYou are helpful.<|im_end|>\n
//! <|im_start|>user\nWhat is 2+2?<|im_end|>\n
//! <|im_start|>assistant\n                          <- add_generation_prompt = true
//! ```
//!
//! The layout ships with the model as a Jinja template (`tokenizer_config.json`'s
//! `chat_template`, a `chat_template.jinja` file, or the GGUF key `tokenizer.chat_template`).
//! Rendering the model's own template, rather than a hand-written copy, is what keeps prompts
//! byte-identical to the ones the model saw in training.
//!
//! Qwen3's template adds thinking mode (book chapter 2): with `enable_thinking = false` the
//! generation prompt ends in an empty `<think>\n\n</think>\n\n` block, so the model answers
//! without reasoning; left undefined or `true`, the model opens `<think>` itself. In earlier
//! assistant turns the template drops the `<think>...</think>` part of the content, keeping
//! it only for turns after the last user query.
//!
//! Rendering follows transformers' `apply_chat_template`: `trim_blocks` and `lstrip_blocks`
//! on, loop controls (`break`, `continue`) on, Python string and dict methods (`.strip()`,
//! `.split()`, `.startswith()`, `.get()`, ...) through `minijinja-contrib`'s pycompat
//! callback, `raise_exception(msg)`, a `tojson` filter that writes what Python's `json.dumps`
//! writes (`", "` and `": "` separators, non-ASCII kept), and `True`/`False`/`None` printed the
//! Python way. The variables are `messages`, `add_generation_prompt`, `enable_thinking` (only
//! when set), and the special-token strings `bos_token`, `eos_token`, `pad_token`, `unk_token`
//! (only those the tokenizer has). Not supported: transformers' `{% generation %}` tag, tools,
//! and `strftime_now`.

use std::collections::BTreeMap;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Result, TokenizerError};

/// One turn of a conversation: a role (`system`, `user`, `assistant`) and its text.
///
/// An assistant turn may hold its reasoning inline, `<think>\n...\n</think>\n\nanswer`, as
/// Qwen3 writes it; the template decides what of it to keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates may know other roles, e.g. `tool`).
    pub role: String,
    /// The turn's text.
    pub content: String,
}

impl ChatMessage {
    /// Returns a message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    /// Returns a `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// Returns a `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// Returns an `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// How to render a conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatOptions {
    /// Ends the prompt with the opening of an assistant turn (`<|im_start|>assistant\n`), so
    /// the model's continuation is its reply. On for generation, off for training examples.
    pub add_generation_prompt: bool,
    /// Qwen3 thinking mode: `Some(false)` renders an empty think block so the model answers
    /// directly, `Some(true)` or `None` leave the template's default (thinking on). Templates
    /// that do not know the variable ignore it.
    pub enable_thinking: Option<bool>,
}

impl ChatOptions {
    /// Options for generation: a generation prompt, the template's default thinking mode.
    pub fn generation() -> Self {
        Self {
            add_generation_prompt: true,
            enable_thinking: None,
        }
    }

    /// Returns these options with `enable_thinking` set.
    pub fn thinking(self, enable: bool) -> Self {
        Self {
            enable_thinking: Some(enable),
            ..self
        }
    }
}

/// The special-token strings a template may print (`{{ bos_token }}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SpecialTokenStrings {
    pub bos: Option<String>,
    pub eos: Option<String>,
    pub pad: Option<String>,
    pub unk: Option<String>,
}

/// A compiled chat template and where it came from.
#[derive(Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    origin: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("origin", &self.origin)
            .field("source_len", &self.source.len())
            .finish()
    }
}

/// The name the template is registered under; it appears in the engine's messages.
const NAME: &str = "chat_template";

impl ChatTemplate {
    /// Compiles a Jinja chat template; `origin` names where it came from (file and key) for
    /// error messages.
    pub fn new(source: impl Into<String>, origin: impl Into<String>) -> Result<Self> {
        let source = source.into();
        let origin = origin.into();
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(python_formatter);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.clone()).map_err(|e| {
            TokenizerError::TemplateSyntax {
                origin: origin.clone(),
                message: describe(&e),
            }
        })?;
        Ok(Self {
            env,
            source,
            origin,
        })
    }

    /// The template's Jinja source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Where the template came from (file and key).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Renders a conversation to the prompt text.
    pub(crate) fn render(
        &self,
        messages: &[ChatMessage],
        opts: &ChatOptions,
        special: &SpecialTokenStrings,
    ) -> Result<String> {
        let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
        ctx.insert("messages", Value::from_serialize(messages));
        ctx.insert(
            "add_generation_prompt",
            Value::from(opts.add_generation_prompt),
        );
        if let Some(thinking) = opts.enable_thinking {
            ctx.insert("enable_thinking", Value::from(thinking));
        }
        for (name, value) in [
            ("bos_token", &special.bos),
            ("eos_token", &special.eos),
            ("pad_token", &special.pad),
            ("unk_token", &special.unk),
        ] {
            if let Some(v) = value {
                ctx.insert(name, Value::from(v.as_str()));
            }
        }
        let render_err = |e: Error| TokenizerError::TemplateRender {
            origin: self.origin.clone(),
            message: describe(&e),
        };
        let template = self.env.get_template(NAME).map_err(render_err)?;
        template
            .render(Value::from_serialize(&ctx))
            .map_err(render_err)
    }
}

/// The engine's message with its cause chain and the line it points at.
fn describe(e: &Error) -> String {
    let mut msg = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.kind().to_string(),
    };
    if let Some(line) = e.line() {
        msg = format!("line {line}: {msg}");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// `raise_exception(message)`: HF templates call it to reject a conversation.
fn raise_exception(message: String) -> std::result::Result<Value, Error> {
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("template raised: {message}"),
    ))
}

/// Prints values as Jinja2 does under Python: `True`, `False`, `None`.
fn python_formatter(
    out: &mut Output,
    state: &State,
    value: &Value,
) -> std::result::Result<(), Error> {
    match value.kind() {
        ValueKind::Bool => out
            .write_str(if value.is_true() { "True" } else { "False" })
            .map_err(Error::from),
        ValueKind::None => out.write_str("None").map_err(Error::from),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// `tojson(indent=None, sort_keys=False)`: what transformers' `tojson` (Python's `json.dumps`
/// with `ensure_ascii=False`) writes.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, &value, indent, sort_keys.unwrap_or(false), 0)?;
    Ok(Value::from_safe_string(out))
}

fn write_json(
    out: &mut String,
    v: &Value,
    indent: Option<usize>,
    sort: bool,
    level: usize,
) -> std::result::Result<(), Error> {
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&v.to_string()),
        ValueKind::String => json_string(out, v.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                write_json(out, item, indent, sort, level + 1)?;
            }
            newline(out, level);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if sort {
                keys.sort();
            }
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                json_string(out, &key.to_string());
                out.push_str(": ");
                write_json(out, &v.get_item(key)?, indent, sort, level + 1)?;
            }
            newline(out, level);
            out.push('}');
        }
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("tojson cannot write a value of kind {other}"),
            ));
        }
    }
    Ok(())
}

/// A JSON string as Python writes it with `ensure_ascii=False`.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, messages: &[ChatMessage], opts: ChatOptions) -> Result<String> {
        ChatTemplate::new(src, "test")?.render(messages, &opts, &SpecialTokenStrings::default())
    }

    #[test]
    fn python_string_methods_work_in_templates() {
        let src =
            "{{ messages[0].content.strip().split(',')[1].lstrip() }}|{{ 'ab'.startswith('a') }}";
        let out = render(
            src,
            &[ChatMessage::user("  x, y  ")],
            ChatOptions::default(),
        )
        .unwrap();
        assert_eq!(out, "y|True");
    }

    #[test]
    fn tojson_writes_what_python_json_dumps_writes() {
        let src = "{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n'} | tojson }}";
        let out = render(src, &[], ChatOptions::default()).unwrap();
        assert_eq!(out, r#"{"a": [1, 2.5, null, true], "b": "é\"\n"}"#);
        let out = render(
            "{{ [1, {'k': 'v'}] | tojson(indent=2) }}",
            &[],
            ChatOptions::default(),
        )
        .unwrap();
        assert_eq!(out, "[\n  1,\n  {\n    \"k\": \"v\"\n  }\n]");
    }

    #[test]
    fn raise_exception_becomes_a_render_error_naming_the_origin() {
        let src = "{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}";
        let err = ChatTemplate::new(src, "cfg.json key \"chat_template\"")
            .unwrap()
            .render(
                &[ChatMessage::assistant("hi")],
                &ChatOptions::default(),
                &SpecialTokenStrings::default(),
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cfg.json key \"chat_template\"") && msg.contains("first must be user"),
            "{msg}"
        );
    }

    #[test]
    fn syntax_errors_name_the_origin_and_line() {
        let err = ChatTemplate::new(
            "line one\n{% for m in messages %}{{ m.content }",
            "x.gguf key \"tokenizer.chat_template\"",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, TokenizerError::TemplateSyntax { .. }),
            "{msg}"
        );
        assert!(
            msg.contains("x.gguf key \"tokenizer.chat_template\"") && msg.contains("line 2"),
            "{msg}"
        );
    }

    #[test]
    fn reversed_slices_namespaces_and_adjacent_loop_items_work() {
        let src = "{% set ns = namespace(last=-1) %}{% for m in messages[::-1] %}{% if ns.last < 0 and m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{% endfor %}{{ ns.last }}|{% for m in messages %}{% if loop.previtem is defined %}{{ loop.previtem.role }}>{% endif %}{{ m.role }};{% endfor %}";
        let messages = [
            ChatMessage::user("a"),
            ChatMessage::assistant("b"),
            ChatMessage::user("c"),
            ChatMessage::assistant("d"),
        ];
        let out = render(src, &messages, ChatOptions::default()).unwrap();
        assert_eq!(out, "1|user;user>assistant;assistant>user;user>assistant;");
    }

    #[test]
    fn loop_controls_are_enabled_as_in_transformers() {
        let src = "{% for m in messages %}{% if m.role == 'assistant' %}{% break %}{% endif %}{{ m.content }}{% endfor %}";
        let messages = [
            ChatMessage::user("a"),
            ChatMessage::assistant("b"),
            ChatMessage::user("c"),
        ];
        assert_eq!(render(src, &messages, ChatOptions::default()).unwrap(), "a");
    }

    #[test]
    fn templates_and_tokenizers_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ChatTemplate>();
        send_sync::<crate::Tokenizer>();
    }

    #[test]
    fn enable_thinking_is_undefined_unless_set() {
        let src =
            "{% if enable_thinking is defined %}{{ enable_thinking }}{% else %}unset{% endif %}";
        assert_eq!(render(src, &[], ChatOptions::default()).unwrap(), "unset");
        assert_eq!(
            render(src, &[], ChatOptions::default().thinking(false)).unwrap(),
            "False"
        );
    }
}
