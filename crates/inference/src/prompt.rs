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

/// The whole prompt pipeline: style, format and thinking switch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptBuilder {
    /// Book or CoT text.
    pub style: PromptStyle,
    /// Chat template or raw text.
    pub format: PromptFormat,
    /// The template's `enable_thinking`; `None` keeps its default (on for Qwen3).
    pub thinking: Option<bool>,
}

impl PromptBuilder {
    /// The prompt text of a problem (before any chat template).
    pub fn text(&self, problem: &str) -> String {
        self.style.render(problem)
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

#[cfg(test)]
mod tests {
    use super::*;

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
