//! Tokenizers, special tokens, chat templates and GGUF vocabularies for reasoning models
