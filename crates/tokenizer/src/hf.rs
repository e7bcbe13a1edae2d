//! The Hugging Face side files next to `tokenizer.json`: `tokenizer_config.json` (chat
//! template, special-token strings), `chat_template.jinja` and `generation_config.json`
//! (end-of-generation ids).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Result, TokenizerError};

/// What this crate reads from `tokenizer_config.json`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TokenizerConfig {
    /// The `chat_template` source (the `default` entry when it is a list of named templates).
    pub chat_template: Option<String>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub unk_token: Option<String>,
}

/// What this crate reads from `generation_config.json`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct GenerationConfig {
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
}

/// Reads a file to a string, with an error naming it.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| TokenizerError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a JSON file, with errors naming it (and the line and column).
pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|e| TokenizerError::Json {
        path: path.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })
}

fn field_err(path: &Path, field: &str, reason: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Json {
        path: path.to_path_buf(),
        message: format!("field {field:?}: {reason}"),
    }
}

/// A special-token field: `null`, a string, or an `AddedToken` object with `content`.
fn token_field(
    path: &Path,
    obj: &serde_json::Map<String, Value>,
    field: &str,
) -> Result<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Object(o)) => match o.get("content") {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            _ => Err(field_err(
                path,
                field,
                "object without a string \"content\"",
            )),
        },
        Some(other) => Err(field_err(
            path,
            field,
            format!("expected a string or an object, found {other}"),
        )),
    }
}

/// Reads `tokenizer_config.json`.
pub(crate) fn read_tokenizer_config(path: &Path) -> Result<TokenizerConfig> {
    let json = read_json(path)?;
    let obj = json.as_object().ok_or_else(|| TokenizerError::Json {
        path: path.to_path_buf(),
        message: "expected a JSON object".into(),
    })?;
    let chat_template = match obj.get("chat_template") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        // Several named templates: transformers renders "default" unless tools are passed.
        Some(Value::Array(list)) => {
            let named = list
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"));
            match named
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
            {
                Some(s) => Some(s.to_string()),
                None => {
                    return Err(field_err(
                        path,
                        "chat_template",
                        "list of templates without a \"default\" entry",
                    ));
                }
            }
        }
        Some(other) => {
            return Err(field_err(
                path,
                "chat_template",
                format!("expected a string, found {other}"),
            ));
        }
    };
    Ok(TokenizerConfig {
        chat_template,
        bos_token: token_field(path, obj, "bos_token")?,
        eos_token: token_field(path, obj, "eos_token")?,
        pad_token: token_field(path, obj, "pad_token")?,
        unk_token: token_field(path, obj, "unk_token")?,
    })
}

/// Reads `generation_config.json`; `eos_token_id` may be one id or a list.
pub(crate) fn read_generation_config(path: &Path) -> Result<GenerationConfig> {
    let json = read_json(path)?;
    let obj = json.as_object().ok_or_else(|| TokenizerError::Json {
        path: path.to_path_buf(),
        message: "expected a JSON object".into(),
    })?;
    let id = |v: &Value, field: &str| -> Result<u32> {
        v.as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| field_err(path, field, format!("expected a token id, found {v}")))
    };
    let one = |field: &str| -> Result<Option<u32>> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => id(v, field).map(Some),
        }
    };
    let eos_token_ids = match obj.get("eos_token_id") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| id(v, "eos_token_id"))
            .collect::<Result<_>>()?,
        Some(v) => vec![id(v, "eos_token_id")?],
    };
    Ok(GenerationConfig {
        bos_token_id: one("bos_token_id")?,
        eos_token_ids,
        pad_token_id: one("pad_token_id")?,
    })
}

/// The side files of a model folder, each `Some` when present.
pub(crate) struct SideFiles {
    pub tokenizer_config: Option<PathBuf>,
    pub chat_template_jinja: Option<PathBuf>,
    pub generation_config: Option<PathBuf>,
}

impl SideFiles {
    pub(crate) fn find(dir: &Path) -> Self {
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        Self {
            tokenizer_config: existing("tokenizer_config.json"),
            chat_template_jinja: existing("chat_template.jinja"),
            generation_config: existing("generation_config.json"),
        }
    }
}
