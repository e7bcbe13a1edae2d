//! From a math problem to prompt token ids: the book's pipeline.
//!
//! ```text
//! problem ──render_prompt──▶ text (+ "\n\nExplain step by step." for the CoT variant)
//!         ──chat template──▶ <|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n[...]
//!         ──encode──────────▶ ids
//! ```
//!
//! The book's reasoning model wraps every prompt in Qwen3's chat template with thinking on;
//! its "instruct" variant turns thinking off (an empty `<think></think>` block); the base model
//! reads the raw text. [`PromptFormat::Auto`] uses the chat template when the tokenizer has
//! one and the raw text otherwise; `thinking` sets the template's `enable_thinking`.

use std::fmt;
use std::str::FromStr;

use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
use reasoning_verifier::render_prompt;
use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};

/// The chapter-4 chain-of-thought suffix (`cot_prompting_math500.py`,
/// `self_consistency_math500.py`: `--prompt_suffix "\n\nExplain step by step."`).
pub const COT_SUFFIX: &str = "\n\nExplain step by step.";

/// Which problem prompt to write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptStyle {
    /// The chapter-3 `render_prompt`: answer and box the result.
    #[default]
    Book,
    /// `render_prompt` plus [`COT_SUFFIX`] (book section 4.2).
    Cot,
}

impl PromptStyle {
    /// Renders `problem` in this style.
    pub fn render(self, problem: &str) -> String {
        match self {
            PromptStyle::Book => render_prompt(problem),
            PromptStyle::Cot => render_prompt(problem) + COT_SUFFIX,
        }
    }

    /// The style's name as parsed.
    pub fn name(self) -> &'static str {
        match self {
            PromptStyle::Book => "book",
            PromptStyle::Cot => "cot",
        }
    }
}

impl FromStr for PromptStyle {
    type Err = InferenceError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "book" => Ok(PromptStyle::Book),
            "cot" => Ok(PromptStyle::Cot),
            _ => Err(InferenceError::InvalidParameter {
                name: "prompt",
                value: s.into(),
                reason: "expected book or cot",
            }),
        }
    }
}

impl fmt::Display for PromptStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How prompt text becomes ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFormat {
    /// The chat template when the tokenizer has one, else the raw text.
    #[default]
    Auto,
    /// Always the chat template (an error without one).
    Chat,
    /// The text as it is (a base model, as the book's `which_model="base"`).
    Raw,
}

impl FromStr for PromptFormat {
    type Err = InferenceError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(PromptFormat::Auto),
            "chat" => Ok(PromptFormat::Chat),
            "raw" => Ok(PromptFormat::Raw),
            _ => Err(InferenceError::InvalidParameter {
                name: "template",
                value: s.into(),
                reason: "expected auto, chat or raw",
            }),
        }
    }
}

/// The whole prompt pipeline: style, suffix, format and thinking switch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptBuilder {
    /// Book or CoT text.
    pub style: PromptStyle,
    /// Text appended to the rendered prompt, before any chat template (the book's
    /// `--prompt_suffix`, exercise 4.1: e.g. `"\n\nExplain step by step."`).
    #[serde(default)]
    pub suffix: String,
    /// Chat template or raw text.
    pub format: PromptFormat,
    /// The template's `enable_thinking`; `None` keeps its default (on for Qwen3).
    pub thinking: Option<bool>,
}

impl PromptBuilder {
    /// The prompt text of a problem (before any chat template): the style's rendering, then
    /// the suffix.
    pub fn text(&self, problem: &str) -> String {
        let mut text = self.style.render(problem);
        text.push_str(&self.suffix);
        text
    }

    /// The ids of a problem's prompt.
    pub fn problem_ids(&self, tokenizer: &Tokenizer, problem: &str) -> Result<Vec<u32>> {
        self.encode(tokenizer, &self.text(problem))
    }

    /// The ids of any prompt text (a critique or refinement prompt), as one user turn when the
    /// chat template applies.
    pub fn encode(&self, tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
        let chat = match self.format {
            PromptFormat::Auto => tokenizer.has_chat_template(),
            PromptFormat::Chat => true,
            PromptFormat::Raw => false,
        };
        if chat {
            let opts = ChatOptions {
                add_generation_prompt: true,
                enable_thinking: self.thinking,
            };
            Ok(tokenizer.encode_chat(&[ChatMessage::user(text)], &opts)?)
        } else {
            Ok(tokenizer.encode(text)?)
        }
    }
}

/// A conversation's prompt ids, fitted to a token budget by [`fit_chat`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedChat {
    /// The ids to generate from.
    pub ids: Vec<u32>,
    /// Messages dropped from the front of the conversation (system messages are kept).
    pub dropped: usize,
    /// Ids cut from the left of what remained (only when the newest turn alone is too long).
    pub truncated: usize,
}

/// Renders `messages` with `opts` and fits them into `budget` tokens (the context minus the
/// reply's budget, as the book's chat scripts leave room for `max_new_tokens`).
///
/// The oldest turns go first, whole: the first message after the leading system messages is
/// dropped, and then any assistant messages that would open the remaining conversation, until
/// the rendered prompt fits. When only the system messages and one turn remain and they still
/// do not fit, the ids are cut from the left, as the book's `trim_input_tensor` cuts every
/// over-long prompt.
///
/// # Errors
/// The tokenizer has no chat template, or `budget` is 0.
pub fn fit_chat(
    tokenizer: &Tokenizer,
    messages: &[ChatMessage],
    opts: &ChatOptions,
    budget: usize,
) -> Result<FittedChat> {
    if budget == 0 {
        return Err(InferenceError::InvalidParameter {
            name: "budget",
            value: "0".into(),
            reason: "a conversation needs at least one token",
        });
    }
    let system = messages.iter().take_while(|m| m.role == "system").count();
    let mut kept: Vec<ChatMessage> = messages.to_vec();
    let mut dropped = 0;
    loop {
        let ids = tokenizer.encode_chat(&kept, opts)?;
        if ids.len() <= budget || kept.len() <= system + 1 {
            let truncated = ids.len().saturating_sub(budget);
            return Ok(FittedChat {
                ids: ids[truncated..].to_vec(),
                dropped,
                truncated,
            });
        }
        kept.remove(system);
        dropped += 1;
        while kept.len() > system + 1 && kept[system].role == "assistant" {
            kept.remove(system);
            dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chatml() -> Tokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/tiny-arith");
        Tokenizer::load(&dir).unwrap()
    }

    #[test]
    fn a_long_conversation_loses_its_oldest_turns_first() {
        let tok = chatml();
        let mut messages = vec![ChatMessage::system("Be brief.")];
        for i in 0..6 {
            messages.push(ChatMessage::user(format!("What is {i} + {i}?")));
            messages.push(ChatMessage::assistant(format!("{}", 2 * i)));
        }
        messages.push(ChatMessage::user("And 7 + 7?"));
        let opts = ChatOptions::generation();
        let full = tok.encode_chat(&messages, &opts).unwrap();
        let all = fit_chat(&tok, &messages, &opts, full.len()).unwrap();
        assert_eq!(
            (all.ids.len(), all.dropped, all.truncated),
            (full.len(), 0, 0)
        );

        let fitted = fit_chat(&tok, &messages, &opts, full.len() - 1).unwrap();
        assert_eq!(fitted.dropped, 2, "one user turn and its reply");
        assert_eq!(fitted.truncated, 0);
        let mut rest = vec![messages[0].clone()];
        rest.extend_from_slice(&messages[3..]);
        assert_eq!(fitted.ids, tok.encode_chat(&rest, &opts).unwrap());

        // Only the system message and the newest turn left, still too long: cut from the left.
        let last = fit_chat(&tok, &messages, &opts, 5).unwrap();
        assert_eq!(last.dropped, 12);
        assert_eq!(last.ids.len(), 5);
        let tail = tok
            .encode_chat(&[messages[0].clone(), messages[13].clone()], &opts)
            .unwrap();
        assert_eq!(last.ids, tail[tail.len() - 5..]);
        assert_eq!(last.truncated, tail.len() - 5);
        assert!(fit_chat(&tok, &messages, &opts, 0).is_err());
    }

    #[test]
    fn the_suffix_follows_the_rendered_prompt() {
        let builder = PromptBuilder {
            suffix: "\n\nThink hard.".into(),
            ..PromptBuilder::default()
        };
        let book = PromptStyle::Book.render("What is 2+2?");
        assert_eq!(
            builder.text("What is 2+2?"),
            format!("{book}\n\nThink hard.")
        );
    }

    #[test]
    fn cot_style_appends_the_books_suffix() {
        let book = PromptStyle::Book.render("What is 2+2?");
        let cot = PromptStyle::Cot.render("What is 2+2?");
        assert_eq!(cot, format!("{book}\n\nExplain step by step."));
        assert!(book.ends_with("Question:\nWhat is 2+2?\n\nAnswer:"));
    }

    #[test]
    fn styles_and_formats_parse_and_unknown_names_are_refused() {
        assert_eq!("CoT".parse::<PromptStyle>().unwrap(), PromptStyle::Cot);
        assert_eq!("raw".parse::<PromptFormat>().unwrap(), PromptFormat::Raw);
        let err = "fancy".parse::<PromptStyle>().unwrap_err().to_string();
        assert!(err.contains("prompt = fancy"), "{err}");
    }
}
