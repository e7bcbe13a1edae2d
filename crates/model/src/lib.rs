//! Qwen3 and Llama-family decoder on burn with KV cache, safetensors and GGUF loading (Build a Reasoning Model, chapter 2)
