//! `cargo xtask tokenize`: show how a model's tokenizer cuts a text or renders a chat prompt
//! (book chapter 2, the tokenizer and chat template sections).

use std::path::PathBuf;

use anyhow::{Context, Result};
use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};

/// Tokenizes a text (book chapter 2), or renders it as a one-turn chat prompt first.
///
/// Prints one JSON line, `{"ids": [...], "text": "..."}`: `text` is what was encoded (the
/// rendered prompt with `--chat`, else the input). Writes no run folder (it is an inspection
/// tool, not an experiment) and takes about a second on a 2-core CPU, nearly all of it loading
/// the Qwen3 tokenizer (0.1 s for the SmolLM2 GGUF).
///
/// `cargo xtask tokenize --tokenizer ../shared/qwen3 --text "What is 2+2?" --chat --no-think`
#[derive(clap::Args, Debug)]
pub struct TokenizeArgs {
    /// A tokenizer.json, a folder holding one (with tokenizer_config.json for the chat
    /// template), or a .gguf file.
    #[arg(long)]
    tokenizer: PathBuf,
    /// The text to tokenize (with --chat: the user's message).
    #[arg(long)]
    text: String,
    /// Render the text as a user turn with the model's chat template and a generation prompt.
    #[arg(long)]
    chat: bool,
    /// With --chat: set enable_thinking = true (Qwen3 thinking mode).
    #[arg(long, requires = "chat", conflicts_with = "no_think")]
    think: bool,
    /// With --chat: set enable_thinking = false (an empty think block; the model answers directly).
    #[arg(long, requires = "chat")]
    no_think: bool,
}

/// Runs `cargo xtask tokenize`.
pub fn run(args: TokenizeArgs) -> Result<()> {
    let tok = Tokenizer::load(&args.tokenizer)
        .with_context(|| format!("cannot load the tokenizer {}", args.tokenizer.display()))?;
    let (text, ids) = if args.chat {
        let enable_thinking = match (args.think, args.no_think) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let opts = ChatOptions {
            add_generation_prompt: true,
            enable_thinking,
        };
        let messages = [ChatMessage::user(args.text)];
        (
            tok.apply_chat_template(&messages, &opts)?,
            tok.encode_chat(&messages, &opts)?,
        )
    } else {
        let ids = tok.encode(&args.text)?;
        (args.text, ids)
    };
    println!("{}", serde_json::json!({ "ids": ids, "text": text }));
    Ok(())
}
