//! [`Tokenizer`]: one type for `tokenizer.json` folders and GGUF vocabularies.

use std::path::Path;

use reasoning_gguf::GgufFile;
use tokenizers::decoders::DecoderWrapper;

use crate::error::{Result, TokenizerError};
use crate::hf::{self, SideFiles};
use crate::stream::StreamDecoder;
use crate::template::{ChatMessage, ChatOptions, ChatTemplate, SpecialTokenStrings};

/// The end-of-turn token of ChatML templates (Qwen, SmolLM2).
const IM_END: &str = "<|im_end|>";

/// A text tokenizer with its special tokens and chat template.
///
/// Build one with [`Tokenizer::load`] (a `tokenizer.json`, a folder holding one, or a `.gguf`
/// file), or with [`from_file`](Self::from_file), [`from_dir`](Self::from_dir),
/// [`from_gguf`](Self::from_gguf). Cloning copies the vocabulary; share it behind an `Arc` when
/// that matters.
#[derive(Clone)]
pub struct Tokenizer {
    pub(crate) inner: tokenizers::Tokenizer,
    pub(crate) origin: String,
    pub(crate) byte_level: bool,
    chat_template: Option<ChatTemplate>,
    special: SpecialTokenStrings,
    bos_token_id: Option<u32>,
    eos_token_ids: Vec<u32>,
    pad_token_id: Option<u32>,
    /// GGUF only: ids `encode` puts before and after the text (a `tokenizer.json` does this
    /// through its own post-processor instead).
    prefix: Option<u32>,
    suffix: Option<u32>,
    vocab_size: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("origin", &self.origin)
            .field("vocab_size", &self.vocab_size)
            .field("bos_token_id", &self.bos_token_id)
            .field("eos_token_ids", &self.eos_token_ids)
            .field("pad_token_id", &self.pad_token_id)
            .field("chat_template", &self.chat_template)
            .finish()
    }
}

/// Ids and strings gathered from the side files before assembling a [`Tokenizer`].
struct Parts {
    template: Option<ChatTemplate>,
    special: SpecialTokenStrings,
    bos_token_id: Option<u32>,
    extra_eos: Vec<u32>,
    pad_token_id: Option<u32>,
    prefix: Option<u32>,
    suffix: Option<u32>,
}

impl Tokenizer {
    /// Loads a tokenizer from a `tokenizer.json` file, a folder holding one, or a `.gguf` file
    /// (recognised by its extension).
    ///
    /// ```no_run
    /// let tok = reasoning_tokenizer::Tokenizer::load("shared/qwen3")?;
    /// assert_eq!(tok.decode(&tok.encode("2+2=4")?, false)?, "2+2=4");
    /// # Ok::<(), reasoning_tokenizer::TokenizerError>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|source| TokenizerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.is_dir() {
            Self::from_dir(path)
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            Self::from_gguf(&GgufFile::open(path)?)
        } else {
            Self::from_file(path)
        }
    }

    /// Loads a bare `tokenizer.json`: no chat template and no end-of-generation ids; use
    /// [`from_dir`](Self::from_dir) to read the side files too.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let inner = read_tokenizer_json(path)?;
        let parts = Parts {
            template: None,
            special: SpecialTokenStrings::default(),
            bos_token_id: None,
            extra_eos: Vec::new(),
            pad_token_id: None,
            prefix: None,
            suffix: None,
        };
        Self::assemble(inner, path, parts)
    }

    /// Loads `dir/tokenizer.json` with the side files that are present:
    /// `tokenizer_config.json` (chat template; `bos_token`, `eos_token`, `pad_token`,
    /// `unk_token`), `chat_template.jinja` (preferred over the config's template, as in
    /// transformers) and `generation_config.json` (`eos_token_id`, `bos_token_id`,
    /// `pad_token_id`).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let json_path = dir.join("tokenizer.json");
        if !json_path.is_file() {
            return Err(TokenizerError::NoTokenizerJson {
                path: dir.to_path_buf(),
            });
        }
        let inner = read_tokenizer_json(&json_path)?;
        let files = SideFiles::find(dir);
        let config = match &files.tokenizer_config {
            Some(p) => hf::read_tokenizer_config(p)?,
            None => Default::default(),
        };
        let generation = match &files.generation_config {
            Some(p) => hf::read_generation_config(p)?,
            None => Default::default(),
        };
        let template = match (
            &files.chat_template_jinja,
            &config.chat_template,
            &files.tokenizer_config,
        ) {
            (Some(jinja), _, _) => Some(ChatTemplate::new(
                hf::read_text(jinja)?,
                jinja.display().to_string(),
            )?),
            (None, Some(src), Some(cfg)) => Some(ChatTemplate::new(
                src.clone(),
                format!("{} key \"chat_template\"", cfg.display()),
            )?),
            _ => None,
        };
        // Every id named by a side file must be in the vocabulary.
        let lookup = |token: &Option<String>,
                      file: &Option<std::path::PathBuf>,
                      field: &str|
         -> Result<Option<u32>> {
            let Some(token) = token else { return Ok(None) };
            match inner.token_to_id(token) {
                Some(id) => Ok(Some(id)),
                None => Err(TokenizerError::Json {
                    path: file.clone().unwrap_or_default(),
                    message: format!(
                        "field {field:?} names {token:?}, which is not in the vocabulary of {}",
                        json_path.display()
                    ),
                }),
            }
        };
        let cfg = &files.tokenizer_config;
        let bos_token_id = lookup(&config.bos_token, cfg, "bos_token")?.or(generation.bos_token_id);
        let mut extra_eos = lookup(&config.eos_token, cfg, "eos_token")?
            .into_iter()
            .collect::<Vec<_>>();
        extra_eos.extend(&generation.eos_token_ids);
        let pad_token_id = lookup(&config.pad_token, cfg, "pad_token")?.or(generation.pad_token_id);
        lookup(&config.unk_token, cfg, "unk_token")?;
        if let Some(gen_path) = &files.generation_config {
            let ids = generation
                .bos_token_id
                .iter()
                .chain(&generation.eos_token_ids)
                .chain(&generation.pad_token_id);
            for &id in ids {
                if inner.id_to_token(id).is_none() {
                    return Err(TokenizerError::Json {
                        path: gen_path.clone(),
                        message: format!(
                            "token id {id} is not in the vocabulary of {}",
                            json_path.display()
                        ),
                    });
                }
            }
        }
        let special = SpecialTokenStrings {
            bos: config.bos_token,
            eos: config.eos_token,
            pad: config.pad_token,
            unk: config.unk_token,
        };
        let parts = Parts {
            template,
            special,
            bos_token_id,
            extra_eos,
            pad_token_id,
            prefix: None,
            suffix: None,
        };
        Self::assemble(inner, &json_path, parts)
    }

    /// Builds the tokenizer described by a GGUF file's `tokenizer.*` metadata (byte-level BPE,
    /// `tokenizer.ggml.model = "gpt2"`), with the pre-tokenizer llama.cpp uses for
    /// `tokenizer.ggml.pre`. See the [`gguf`](crate::gguf) module for the keys read.
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self> {
        let built = crate::gguf::build(gguf)?;
        let text = |id: Option<u32>| id.and_then(|id| built.inner.id_to_token(id));
        let template = built
            .chat_template
            .map(|src| {
                ChatTemplate::new(
                    src,
                    format!("{} key \"tokenizer.chat_template\"", gguf.path().display()),
                )
            })
            .transpose()?;
        let special = SpecialTokenStrings {
            bos: text(built.bos_token_id),
            eos: text(built.eos_token_ids.first().copied()),
            pad: text(built.pad_token_id),
            unk: text(built.unk_token_id),
        };
        let parts = Parts {
            template,
            special,
            bos_token_id: built.bos_token_id,
            prefix: built.bos_token_id.filter(|_| built.add_bos),
            suffix: built
                .eos_token_ids
                .first()
                .copied()
                .filter(|_| built.add_eos),
            extra_eos: built.eos_token_ids,
            pad_token_id: built.pad_token_id,
        };
        Self::assemble(built.inner, gguf.path(), parts)
    }

    /// Applies the end-of-generation rule and records what the other methods need.
    fn assemble(inner: tokenizers::Tokenizer, path: &Path, parts: Parts) -> Result<Self> {
        // The end-of-generation rule: the configured EOS token, every id the generation config
        // or GGUF metadata lists, and `<|im_end|>` when the chat template writes it.
        let mut eos_token_ids = parts.extra_eos;
        if let Some(id) = parts
            .special
            .eos
            .as_deref()
            .and_then(|t| inner.token_to_id(t))
        {
            eos_token_ids.push(id);
        }
        if let Some(template) = &parts.template
            && template.source().contains(IM_END)
            && let Some(id) = inner.token_to_id(IM_END)
        {
            eos_token_ids.push(id);
        }
        eos_token_ids.sort_unstable();
        eos_token_ids.dedup();
        let vocab_size = inner
            .get_vocab(true)
            .values()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1);
        let byte_level = matches!(inner.get_decoder(), Some(DecoderWrapper::ByteLevel(_)));
        Ok(Self {
            inner,
            origin: path.display().to_string(),
            byte_level,
            chat_template: parts.template,
            special: parts.special,
            bos_token_id: parts.bos_token_id,
            eos_token_ids,
            pad_token_id: parts.pad_token_id,
            prefix: parts.prefix,
            suffix: parts.suffix,
            vocab_size,
        })
    }

    /// Returns the token ids of `text`.
    ///
    /// Special tokens written in the text (`<|im_start|>`, `<think>`) are recognised and become
    /// their single id; they are never split into pieces. BOS/EOS are added only when the
    /// model's configuration asks for it (the `tokenizer.json` post-processor, or GGUF
    /// `tokenizer.ggml.add_bos_token` / `add_eos_token`); Qwen3 and SmolLM2 add none.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 2);
        ids.extend(self.prefix);
        ids.extend(self.encode_raw(text, true)?);
        ids.extend(self.suffix);
        Ok(ids)
    }

    /// The `tokenizers` pipeline on `text`, with or without the post-processor's BOS/EOS.
    fn encode_raw(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let encoding =
            self.inner
                .encode_fast(text, add_special)
                .map_err(|e| TokenizerError::Encode {
                    origin: self.origin.clone(),
                    message: e.to_string(),
                })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Returns the text of `ids`; with `skip_special`, special tokens (control tokens such as
    /// `<|im_end|>`) are left out. Byte sequences that are not valid UTF-8 become U+FFFD.
    ///
    /// An id outside the vocabulary is an error, not silently dropped.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        if let Some(&id) = ids.iter().find(|&&id| self.inner.id_to_token(id).is_none()) {
            return Err(self.unknown_id(id));
        }
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| TokenizerError::Encode {
                origin: self.origin.clone(),
                message: e.to_string(),
            })
    }

    pub(crate) fn unknown_id(&self, id: u32) -> TokenizerError {
        TokenizerError::UnknownId {
            id,
            vocab_size: self.vocab_size,
            origin: self.origin.clone(),
        }
    }

    /// Returns a decoder that turns ids, given one at a time, into text pieces that are always
    /// whole characters (see [`StreamDecoder`]).
    pub fn stream_decoder(&self, skip_special: bool) -> StreamDecoder<'_> {
        StreamDecoder::new(self, skip_special)
    }

    /// Returns the id of a token given its text in the vocabulary's alphabet (`"Ġthe"`, `"<|im_end|>"`).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Returns a token's text in the vocabulary's alphabet (byte-level: a space is `Ġ`).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Returns the number of ids the tokenizer knows: the largest id plus one, added tokens
    /// included. A model's embedding matrix may have more rows (Qwen3: 151 936 rows, 151 669
    /// ids).
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Returns the ids that end generation, sorted.
    ///
    /// The rule: the `eos_token` of `tokenizer_config.json`, every `eos_token_id` of
    /// `generation_config.json`, GGUF `tokenizer.ggml.eos_token_id` / `eot_token_id` /
    /// `eom_token_id`, and `<|im_end|>` whenever the chat template writes it (a chat model ends
    /// its turn with it even where the configured EOS is `<|endoftext|>`). Empty for a bare
    /// `tokenizer.json`.
    pub fn eos_token_ids(&self) -> &[u32] {
        &self.eos_token_ids
    }

    /// Returns whether `id` ends generation (is one of [`eos_token_ids`](Self::eos_token_ids)).
    pub fn is_eos(&self, id: u32) -> bool {
        self.eos_token_ids.contains(&id)
    }

    /// Returns the beginning-of-sequence id, if the model has one (Qwen3 has none).
    pub fn bos_token_id(&self) -> Option<u32> {
        self.bos_token_id
    }

    /// Returns the padding id, if the model names one.
    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad_token_id
    }

    /// Returns whether a chat template was loaded.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Returns the loaded chat template, if any.
    pub fn chat_template(&self) -> Option<&ChatTemplate> {
        self.chat_template.as_ref()
    }

    /// Renders a conversation with the model's chat template (see [`crate::template`]).
    ///
    /// ```no_run
    /// use reasoning_tokenizer::{ChatMessage, ChatOptions, Tokenizer};
    /// let tok = Tokenizer::load("shared/qwen3")?;
    /// let prompt = tok.apply_chat_template(
    ///     &[ChatMessage::user("What is 2+2?")],
    ///     &ChatOptions::generation().thinking(false),
    /// )?;
    /// assert!(prompt.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    /// # Ok::<(), reasoning_tokenizer::TokenizerError>(())
    /// ```
    pub fn apply_chat_template(
        &self,
        messages: &[ChatMessage],
        opts: &ChatOptions,
    ) -> Result<String> {
        let template =
            self.chat_template
                .as_ref()
                .ok_or_else(|| TokenizerError::NoChatTemplate {
                    origin: self.origin.clone(),
                })?;
        template.render(messages, opts, &self.special)
    }

    /// Renders a conversation and returns its ids, as transformers'
    /// `apply_chat_template(tokenize=True)` does: the template writes any BOS itself, so no
    /// BOS/EOS is added around the text.
    pub fn encode_chat(&self, messages: &[ChatMessage], opts: &ChatOptions) -> Result<Vec<u32>> {
        self.encode_raw(&self.apply_chat_template(messages, opts)?, false)
    }

    /// The underlying `tokenizers` pipeline, for what this type does not expose.
    pub fn as_tokenizers(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// Parses a `tokenizer.json`, telling malformed JSON apart from a JSON file that is not a
/// tokenizer.
fn read_tokenizer_json(path: &Path) -> Result<tokenizers::Tokenizer> {
    let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| {
        // `tokenizers` reports unknown layouts as JSON syntax errors too; parsing the file as
        // plain JSON (only on this error path) tells which it is.
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Err(je) => TokenizerError::Json {
                path: path.to_path_buf(),
                message: format!("invalid JSON: {je}"),
            },
            Ok(_) => TokenizerError::Build {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        }
    })
}
