//! Byte-level BPE vocabularies embedded in GGUF files, rebuilt as a `tokenizers` pipeline.
//!
//! A GGUF file written by llama.cpp's converter carries the tokenizer as metadata:
//!
//! ```text
//! tokenizer.ggml.model        "gpt2"             byte-level BPE (the only kind read here)
//! tokenizer.ggml.pre          "smollm"           which pre-tokenizer regexes to run
//! tokenizer.ggml.tokens       [String; V]        token id -> token text (byte-level alphabet)
//! tokenizer.ggml.merges       [String; M]        "left right", rank = position in the list
//! tokenizer.ggml.token_type   [i32; V]           1 normal, 2 unknown, 3 control, 4 user-defined
//! tokenizer.ggml.bos_token_id / eos_token_id / eot_token_id / eom_token_id / padding_token_id
//! tokenizer.ggml.add_bos_token / add_eos_token   whether encoding adds BOS / EOS
//! tokenizer.chat_template     Jinja source
//! ```
//!
//! The pipeline is the one a `tokenizer.json` would describe, so both sources share one code
//! path: no normalizer; a pre-tokenizer that runs llama.cpp's regexes for `tokenizer.ggml.pre`
//! one after the other (each splits every piece the previous one left, keeping matches and the
//! text between them as pieces), then maps bytes to the byte-level alphabet; a BPE model over
//! the vocabulary and merges; a byte-level decoder. Control and unknown tokens (types 2, 3)
//! become special added tokens, user-defined tokens (type 4) plain added tokens: both are
//! matched in the input text before pre-tokenization and never split.
//!
//! llama.cpp is the reference. For `smollm` it isolates every digit (regex `\p{N}`) before the
//! GPT-2 regex; transformers' own GGUF conversion instead uses the bare GPT-2 byte-level regex,
//! which differs when two or more spaces precede a digit (see `docs/tokenizer.md`).
//! Departures from llama.cpp: decoding never applies llama.cpp's `clean_spaces` clean-up
//! (`" ."` stays `" ."`), and SentencePiece (`llama`), WordPiece and other GGUF tokenizer
//! models are rejected with an error.

use std::path::Path;

use reasoning_gguf::{GgufFile, Value};
use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::error::{Result, TokenizerError};

/// The GPT-2 pre-tokenizer regex, as llama.cpp writes it (no trailing `|\s+`).
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's regex with the case-insensitive contractions spelled out, as llama.cpp does.
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's regex: like Llama 3's but one digit per piece.
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer settings llama.cpp uses for one `tokenizer.ggml.pre` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PreTokenizerKind {
    /// Regexes applied in order, each isolating its matches within the previous pieces.
    pub regexes: &'static [&'static str],
    /// Whether a word found whole in the vocabulary skips the merges (Llama 3).
    pub ignore_merges: bool,
    /// Whether encoding adds BOS when `tokenizer.ggml.add_bos_token` is absent.
    pub default_add_bos: bool,
}

/// The `tokenizer.ggml.pre` values this crate knows, for error messages.
pub(crate) const KNOWN_PRE: &[&str] = &[
    "default",
    "gpt2",
    "gpt-2",
    "llama3",
    "llama-v3",
    "llama-bpe",
    "falcon3",
    "dbrx",
    "smaug-bpe",
    "qwen2",
    "deepseek-r1-qwen",
    "megrez",
    "stablelm2",
    "smollm",
    "starcoder",
    "refact",
    "codeshell",
    "command-r",
    "exaone",
    "minerva-7b",
    "mpt",
    "olmo",
    "jais",
    "phi-2",
    "roberta-bpe",
];

/// Maps a `tokenizer.ggml.pre` value to llama.cpp's regexes (`src/llama-vocab.cpp`), or `None`
/// when it is not one of [`KNOWN_PRE`].
pub(crate) fn pre_tokenizer_kind(pre: &str) -> Option<PreTokenizerKind> {
    let kind = |regexes, ignore_merges, default_add_bos| PreTokenizerKind {
        regexes,
        ignore_merges,
        default_add_bos,
    };
    Some(match pre {
        // llama.cpp's fallback: punctuation runs, GPT-2, digit runs, then groups of three ASCII digits.
        "default" => kind(
            &[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
            false,
            false,
        ),
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" => kind(&[LLAMA3], true, true),
        "dbrx" | "smaug-bpe" => kind(&[LLAMA3], false, false),
        "qwen2" | "deepseek-r1-qwen" | "megrez" | "stablelm2" => kind(&[QWEN2], false, false),
        // Every digit is its own piece, then the GPT-2 regex runs on what is left.
        "smollm" | "starcoder" | "refact" | "codeshell" | "command-r" | "exaone" | "minerva-7b" => {
            kind(&[r"\p{N}", GPT2], false, false)
        }
        "gpt2" | "gpt-2" | "mpt" | "olmo" | "jais" | "phi-2" | "roberta-bpe" => {
            kind(&[GPT2], false, false)
        }
        _ => return None,
    })
}

/// What [`build`] returns besides the `tokenizers` pipeline: ids and texts the [`crate::Tokenizer`]
/// keeps.
pub(crate) struct GgufTokenizer {
    pub inner: tokenizers::Tokenizer,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
    pub unk_token_id: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub chat_template: Option<String>,
}

/// Builds the tokenizer described by the `tokenizer.*` metadata of `gguf`.
pub(crate) fn build(gguf: &GgufFile) -> Result<GgufTokenizer> {
    let path = gguf.path();
    let key_err = |key: &str, reason: String| TokenizerError::GgufKey {
        path: path.to_path_buf(),
        key: key.into(),
        reason,
    };

    // Step 1: the tokenizer model must be byte-level BPE.
    let model_key = "tokenizer.ggml.model";
    let model = gguf.metadata_str(model_key).map_err(|_| {
        key_err(
            model_key,
            "missing or not a string: the file carries no tokenizer".into(),
        )
    })?;
    if model != "gpt2" {
        return Err(key_err(
            model_key,
            format!("tokenizer model {model:?} is not supported (only \"gpt2\", byte-level BPE)"),
        ));
    }

    // Step 2: the pre-tokenizer regexes, chosen by name as llama.cpp does.
    let pre_key = "tokenizer.ggml.pre";
    let pre = match gguf.get(pre_key) {
        None => "default",
        Some(v) => v
            .as_str()
            .ok_or_else(|| key_err(pre_key, format!("is {}, expected string", v.type_name())))?,
    };
    let kind = pre_tokenizer_kind(pre).ok_or_else(|| {
        key_err(
            pre_key,
            format!(
                "pre-tokenizer {pre:?} is not supported; known: {}",
                KNOWN_PRE.join(", ")
            ),
        )
    })?;

    // Step 3: vocabulary, merges and token types.
    let tokens_key = "tokenizer.ggml.tokens";
    let tokens = string_array(gguf, tokens_key)?;
    if tokens.is_empty() {
        return Err(key_err(tokens_key, "is empty".into()));
    }
    if u32::try_from(tokens.len()).is_err() {
        return Err(key_err(
            tokens_key,
            format!("has {} entries, more than u32 ids", tokens.len()),
        ));
    }
    let mut vocab = Vocab::with_capacity(tokens.len());
    for (id, token) in tokens.iter().enumerate() {
        if let Some(first) = vocab.insert(token.to_string(), id as u32) {
            return Err(key_err(
                tokens_key,
                format!("token {token:?} appears twice (ids {first} and {id})"),
            ));
        }
    }
    let merges_key = "tokenizer.ggml.merges";
    let merges = string_array(gguf, merges_key)?
        .iter()
        .enumerate()
        .map(|(i, m)| match m.split_once(' ') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !b.contains(' ') => {
                Ok((a.to_string(), b.to_string()))
            }
            _ => Err(key_err(
                merges_key,
                format!("entry {i} ({m:?}) is not \"left right\""),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let types_key = "tokenizer.ggml.token_type";
    let types: Vec<i64> = match gguf.get(types_key) {
        None => vec![1; tokens.len()],
        Some(v) => {
            let arr = v.as_array().ok_or_else(|| {
                key_err(
                    types_key,
                    format!("is {}, expected array of integers", v.type_name()),
                )
            })?;
            if arr.len() != tokens.len() {
                return Err(key_err(
                    types_key,
                    format!(
                        "has {} entries but {tokens_key} has {}",
                        arr.len(),
                        tokens.len()
                    ),
                ));
            }
            arr.iter()
                .enumerate()
                .map(|(i, t)| {
                    t.as_i64().ok_or_else(|| {
                        key_err(
                            types_key,
                            format!("entry {i} is {}, expected integer", t.type_name()),
                        )
                    })
                })
                .collect::<Result<_>>()?
        }
    };

    // Step 4: the BPE model and the pipeline around it.
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(kind.ignore_merges)
        .build()
        .map_err(|e| TokenizerError::Build {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut inner = tokenizers::Tokenizer::new(bpe);
    let mut steps: Vec<PreTokenizerWrapper> = Vec::with_capacity(kind.regexes.len() + 1);
    for regex in kind.regexes {
        let split = Split::new(
            SplitPattern::Regex((*regex).to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| TokenizerError::Build {
            path: path.to_path_buf(),
            message: format!("regex {regex:?}: {e}"),
        })?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    inner.with_pre_tokenizer(Some(PreTokenizerWrapper::Sequence(Sequence::new(steps))));
    inner.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));

    // Step 5: special (control, unknown) and user-defined tokens are matched before splitting.
    let mut special = Vec::new();
    let mut user = Vec::new();
    for (token, &ty) in tokens.iter().zip(&types) {
        match ty {
            2 | 3 => special.push(AddedToken::from(token.to_string(), true).normalized(false)),
            4 => user.push(AddedToken::from(token.to_string(), false).normalized(false)),
            _ => {}
        }
    }
    inner.add_special_tokens(&special);
    inner.add_tokens(&user);

    // Step 6: special ids, flags and the chat template.
    let n = tokens.len() as u64;
    let id = |key: &str| -> Result<Option<u32>> {
        match gguf.get(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(id) if id < n => Ok(Some(id as u32)),
                Some(id) => Err(key_err(
                    key,
                    format!("id {id} is outside the vocabulary ({n} tokens)"),
                )),
                None => Err(key_err(
                    key,
                    format!("is {}, expected unsigned integer", v.type_name()),
                )),
            },
        }
    };
    let flag = |key: &str, default: bool| -> Result<bool> {
        match gguf.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(key_err(key, format!("is {}, expected bool", v.type_name()))),
        }
    };
    let bos_token_id = id("tokenizer.ggml.bos_token_id")?;
    let mut eos_token_ids = Vec::new();
    for key in [
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id",
    ] {
        eos_token_ids.extend(id(key)?);
    }
    let pad_token_id = id("tokenizer.ggml.padding_token_id")?;
    let unk_token_id = id("tokenizer.ggml.unknown_token_id")?;
    let add_bos = flag("tokenizer.ggml.add_bos_token", kind.default_add_bos)?;
    let add_eos = flag("tokenizer.ggml.add_eos_token", false)?;
    if add_bos && bos_token_id.is_none() {
        return Err(key_err(
            "tokenizer.ggml.bos_token_id",
            "missing, but tokenizer.ggml.add_bos_token asks for BOS".into(),
        ));
    }
    if add_eos && eos_token_ids.is_empty() {
        return Err(key_err(
            "tokenizer.ggml.eos_token_id",
            "missing, but tokenizer.ggml.add_eos_token asks for EOS".into(),
        ));
    }
    let template_key = "tokenizer.chat_template";
    let chat_template = match gguf.get(template_key) {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or_else(|| {
                    key_err(
                        template_key,
                        format!("is {}, expected string", v.type_name()),
                    )
                })?
                .to_string(),
        ),
    };
    Ok(GgufTokenizer {
        inner,
        bos_token_id,
        eos_token_ids,
        pad_token_id,
        unk_token_id,
        add_bos,
        add_eos,
        chat_template,
    })
}

/// A required array of strings, with errors naming the key.
fn string_array<'a>(gguf: &'a GgufFile, key: &str) -> Result<Vec<&'a str>> {
    let path: &Path = gguf.path();
    let err = |reason: String| TokenizerError::GgufKey {
        path: path.to_path_buf(),
        key: key.into(),
        reason,
    };
    let value = gguf
        .get(key)
        .ok_or_else(|| err("missing: the file carries no BPE vocabulary".into()))?;
    let arr = value.as_array().ok_or_else(|| {
        err(format!(
            "is {}, expected array of strings",
            value.type_name()
        ))
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .ok_or_else(|| err(format!("entry {i} is {}, expected string", v.type_name())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_pre_tokenizer_name_has_regexes_that_compile() {
        for name in KNOWN_PRE {
            let kind = pre_tokenizer_kind(name).unwrap_or_else(|| panic!("{name} has no entry"));
            for regex in kind.regexes {
                Split::new(
                    SplitPattern::Regex(regex.to_string()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap_or_else(|e| panic!("{name}: {regex}: {e}"));
            }
        }
        assert!(pre_tokenizer_kind("no-such-pre").is_none());
    }
}
