//! Chapter 2: text generation with the KV cache.
//!
//! - `generate`: continue one prompt, streaming the text (book section 2.7 and its
//!   `generate_stats`: tokens per second and peak memory).
//! - `chat`: a multi-turn conversation in the terminal (the book's `chat_multiturn.py`).
//! - `convert`: any model we load (the book's `.pth` checkpoints above all) written as an HF
//!   folder that transformers, this project and the book's HF loader read.
//!
//! Generation lives in `reasoning-inference`; these commands parse arguments and print.

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use rand_chacha::ChaCha8Rng;
use reasoning_inference::stats::peak_rss_bytes;
use reasoning_inference::{
    Decoding, LoadedModel, SamplingParams, fit_chat, generate, sample_stream,
};
use reasoning_tokenizer::{ChatMessage, ChatOptions};
use serde_json::json;

use crate::common::ModelArgs;

/// Sampling flags shared by `generate` and `chat`.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Temperature; 0 decodes greedily (book chapter 4).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Top-p threshold (with --temperature > 0).
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Top-k cut (with --temperature > 0).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Min-p cut (with --temperature > 0).
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Seed of the sampling stream.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
}

impl SamplingArgs {
    /// The decoding these flags ask for.
    pub fn decoding(&self) -> Result<Decoding> {
        if self.temperature == 0.0 {
            return Ok(Decoding::Greedy);
        }
        let params = SamplingParams {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
        };
        params.validate()?;
        Ok(Decoding::Sample(params))
    }

    /// The random stream of the `turn`-th generation.
    fn stream(&self, turn: u64) -> ChaCha8Rng {
        sample_stream(self.seed, turn, 0)
    }
}

/// Generate a continuation of one prompt (book section 2.7), streaming the text.
///
/// Prints the text as it is generated, then a line with prefill and decode tokens per second
/// and the peak resident memory (stderr). With --json prints one JSON object instead:
/// `prompt_ids`, `generated_ids` (with the EOS id when one was produced), `text`,
/// `prefill_tokens_per_s`, `decode_tokens_per_s`, `peak_rss_mb`. Writes no run folder. The
/// embedded model answers in well under a second on a 2-core CPU; SmolLM2-135M generates about
/// 20-40 tokens/s there.
///
///     cargo xtask generate --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf \
///         --prompt "What is the capital of France?" --chat
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The prompt text (with --chat: the user's message).
    #[arg(long)]
    pub prompt: String,
    /// Render the prompt as one user turn of the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// With --chat: thinking mode on (Qwen3-style templates); off otherwise.
    #[arg(long, requires = "chat")]
    pub think: bool,
    /// Most new tokens (the EOS token included).
    #[arg(long, default_value_t = 256)]
    pub max_new_tokens: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `cargo xtask generate`.
pub fn generate_cmd(args: GenerateArgs) -> Result<()> {
    let lm = args.model.load()?;
    let prompt_ids = if args.chat {
        let opts = ChatOptions {
            add_generation_prompt: true,
            enable_thinking: Some(args.think),
        };
        lm.tokenizer
            .encode_chat(&[ChatMessage::user(args.prompt.as_str())], &opts)?
    } else {
        lm.tokenizer.encode(&args.prompt)?
    };
    let config = lm.generation_config(args.max_new_tokens, args.sampling.decoding()?);
    let mut rng = args.sampling.stream(0);
    let mut stream = lm.tokenizer.stream_decoder(true);
    let mut out = std::io::stdout().lock();
    let (generation, stats) = generate(&lm.model, &prompt_ids, &config, Some(&mut rng), |id| {
        if !args.json
            && let Ok(Some(piece)) = stream.step(id)
        {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
        ControlFlow::Continue(())
    })?;
    let peak_mb = peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
    if args.json {
        let text = lm.tokenizer.decode(generation.content_ids(), false)?;
        let value = json!({
            "prompt_ids": prompt_ids,
            "generated_ids": generation.ids,
            "text": text,
            "prefill_tokens_per_s": stats.prefill_tokens_per_s(),
            "decode_tokens_per_s": stats.decode_tokens_per_s(1),
            "peak_rss_mb": peak_mb,
        });
        writeln!(out, "{value}")?;
    } else {
        let rest = stream.finish();
        writeln!(out, "{rest}")?;
        eprintln!(
            "[{}: {} prompt tokens, {} generated ({:?}); prefill {:.1} tokens/s, decode {:.1} \
             tokens/s; peak RSS {}]",
            lm.name,
            prompt_ids.len(),
            generation.ids.len(),
            generation.finish,
            stats.prefill_tokens_per_s(),
            stats.decode_tokens_per_s(1),
            peak_mb.map_or("n/a".into(), |m| format!("{m:.0} MB")),
        );
    }
    Ok(())
}

/// Chat with a model in the terminal (the book's `chat_multiturn.py`).
///
/// Each turn renders the whole conversation with the model's chat template and streams the
/// reply. Commands: `/think` toggles thinking mode (Qwen3-style templates), `/reset` starts
/// over, `/quit` (or Ctrl-D) leaves; Ctrl-C stops the reply being generated. Writes nothing.
///
///     cargo xtask chat --model ../shared/models/SmolLM2-135M-Instruct.Q4_1.gguf
#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The system message opening the conversation (the book's chat scripts use this one);
    /// `--system ""` for none.
    #[arg(long, default_value = "You are a helpful assistant.")]
    pub system: String,
    /// Start with thinking mode on.
    #[arg(long)]
    pub think: bool,
    /// Most new tokens per reply.
    #[arg(long, default_value_t = 1024)]
    pub max_new_tokens: usize,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// Set while a reply is generated; Ctrl-C then stops the reply instead of the program.
static GENERATING: AtomicBool = AtomicBool::new(false);
/// Set by Ctrl-C during a reply.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Runs `cargo xtask chat`.
pub fn chat(args: ChatArgs) -> Result<()> {
    let lm = args.model.load()?;
    let decoding = args.sampling.decoding()?;
    ctrlc::set_handler(|| {
        if GENERATING.load(Ordering::SeqCst) {
            INTERRUPTED.store(true, Ordering::SeqCst);
        } else {
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    let mut thinking = args.think;
    let fresh = || -> Vec<ChatMessage> {
        (!args.system.is_empty())
            .then(|| ChatMessage::system(args.system.as_str()))
            .into_iter()
            .collect()
    };
    let mut messages = fresh();
    let context = lm.model.config().max_position_embeddings;
    if args.max_new_tokens >= context {
        bail!(
            "--max-new-tokens {} leaves no room for the conversation in the model's {context}-token \
             context",
            args.max_new_tokens
        );
    }
    eprintln!(
        "Chatting with {} (thinking {}, context {context} tokens). /think toggles thinking, \
         /reset starts over, /history counts the turns, /quit leaves.",
        lm.name,
        if thinking { "on" } else { "off" }
    );
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut turn = 0u64;
    loop {
        print!("\n> ");
        std::io::stdout().flush()?;
        let Some(line) = lines.next() else { break };
        let line = line?;
        match line.trim() {
            "" => continue,
            "/quit" | "/exit" => break,
            "/reset" => {
                messages = fresh();
                eprintln!("(conversation cleared)");
                continue;
            }
            "/think" => {
                thinking = !thinking;
                eprintln!("(thinking {})", if thinking { "on" } else { "off" });
                continue;
            }
            "/history" => {
                let replies = messages.iter().filter(|m| m.role == "assistant").count();
                eprintln!("({replies} replies so far)");
                continue;
            }
            _ => {}
        }
        messages.push(ChatMessage::user(line));
        let opts = ChatOptions {
            add_generation_prompt: true,
            enable_thinking: Some(thinking),
        };
        // Leave room for the reply, as the book's chat scripts do; the oldest turns go first.
        let fitted = fit_chat(
            &lm.tokenizer,
            &messages,
            &opts,
            context - args.max_new_tokens,
        )?;
        if fitted.dropped > 0 || fitted.truncated > 0 {
            eprintln!(
                "(context full: the {} oldest messages are left out{})",
                fitted.dropped,
                if fitted.truncated > 0 {
                    format!(", and the first {} tokens of the rest", fitted.truncated)
                } else {
                    String::new()
                }
            );
        }
        let started = Instant::now();
        let (reply, tokens) = reply(&lm, &fitted.ids, args.max_new_tokens, decoding, || {
            args.sampling.stream(turn)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "\n[{tokens} tokens in {seconds:.2} s, {:.1} tokens/s; prompt {} tokens]",
            tokens as f64 / seconds.max(1e-9),
            fitted.ids.len()
        );
        turn += 1;
        messages.push(ChatMessage::assistant(reply));
    }
    Ok(())
}

/// Generates and streams one assistant reply to the prompt `ids`; returns its text and the
/// number of ids generated.
fn reply(
    lm: &LoadedModel,
    ids: &[u32],
    max_new_tokens: usize,
    decoding: Decoding,
    stream: impl FnOnce() -> ChaCha8Rng,
) -> Result<(String, usize)> {
    let config = lm.generation_config(max_new_tokens, decoding);
    let mut rng = stream();
    let mut decoder = lm.tokenizer.stream_decoder(true);
    let mut out = std::io::stdout().lock();
    INTERRUPTED.store(false, Ordering::SeqCst);
    GENERATING.store(true, Ordering::SeqCst);
    let result = generate(&lm.model, ids, &config, Some(&mut rng), |id| {
        if let Ok(Some(piece)) = decoder.step(id) {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
        }
        if INTERRUPTED.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    GENERATING.store(false, Ordering::SeqCst);
    let (generation, _) = result?;
    let _ = out.write_all(decoder.finish().as_bytes());
    let text = lm.tokenizer.decode(generation.content_ids(), true)?;
    Ok((text, generation.ids.len()))
}

/// Measure prefill and decode throughput and peak memory (book chapter 2, `generate_stats`).
///
/// Prefills `--batch` seeded random prompts of `--prompt-tokens` ids (512) and greedily decodes
/// `--new-tokens` more (128, no stop id), `--repeats` times after a short warm-up; reports
/// median tokens/s of each phase, the peak resident memory (VmHWM) and the machine's load
/// average. `--random-weights qwen3-0.6b` measures Qwen3-0.6B's architecture with seeded random
/// weights (no download). Writes a run folder with results.json and summary.json. SmolLM2-135M
/// takes about a minute on a 2-core CPU, Qwen3-0.6B a few minutes.
///
///     cargo xtask bench generate --random-weights qwen3-0.6b --dtype bf16
#[derive(Args, Debug, serde::Serialize)]
pub struct BenchGenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Use seeded random weights of a preset architecture instead of --model: qwen3-0.6b ...
    /// qwen3-32b, smollm2-135m.
    #[arg(long)]
    pub random_weights: Option<String>,
    /// Sequences decoded together.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Prompt length in tokens (lowered to fit a short context).
    #[arg(long, default_value_t = 512)]
    pub prompt_tokens: usize,
    /// Tokens decoded after the prefill.
    #[arg(long, default_value_t = 128)]
    pub new_tokens: usize,
    /// Measured runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Seed of the random prompts (and weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Generate without the KV cache (the book's generate_text_basic, section 2.6): every
    /// step reruns the whole sequence; compare with a run without this flag.
    #[arg(long)]
    pub no_cache: bool,
    /// Run folder (default runs/bench-generate-<timestamp>/).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// One measured run of `bench generate`.
#[derive(Debug, serde::Serialize)]
struct GenerateRun {
    prefill_seconds: f64,
    decode_seconds: f64,
    prefill_tokens_per_s: f64,
    decode_tokens_per_s: f64,
}

/// Runs `cargo xtask bench generate`.
pub fn bench_generate(args: BenchGenerateArgs) -> Result<()> {
    use rand::{RngExt, SeedableRng};
    use reasoning_inference::load::random_model;
    use reasoning_inference::{Control, GenerationConfig, generate_batch, generate_uncached};
    use reasoning_model::{Config, DType, DeviceSpec};

    use crate::bench::{machine_load, median};

    let load_before = machine_load();
    let started = std::time::Instant::now();
    let dtype: DType = args.model.load.dtype.parse()?;
    let (model, name, id_limit) = match &args.random_weights {
        Some(preset) => {
            let config = Config::preset(preset).context("--random-weights")?;
            let device = args.model.load.device.parse::<DeviceSpec>()?.device()?;
            let limit = config.vocab_size;
            let model = random_model(&config, &device, dtype, args.seed);
            (model, format!("{preset} (random weights)"), limit)
        }
        None => {
            let lm = args.model.load()?;
            let limit = lm.tokenizer.vocab_size();
            (lm.model, lm.name, limit)
        }
    };
    let load_seconds = started.elapsed().as_secs_f64();
    let context = model.config().max_position_embeddings;
    let prompt_tokens = args
        .prompt_tokens
        .min(context.saturating_sub(args.new_tokens + 2))
        .max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let prompts: Vec<Vec<u32>> = (0..args.batch.max(1))
        .map(|_| {
            (0..prompt_tokens)
                .map(|_| rng.random_range(0..id_limit as u32))
                .collect()
        })
        .collect();
    let config = GenerationConfig::greedy(args.new_tokens + 1, &[]);
    // Warm-up: allocations, thread pools, caches.
    let warm: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| p[..p.len().min(16)].to_vec())
        .collect();
    let run = |prompts: &[Vec<u32>], config: &GenerationConfig| {
        if args.no_cache {
            generate_uncached(&model, prompts, config.max_new_tokens, &[])
        } else {
            generate_batch(&model, prompts, 1, config, &mut [], |_| Control::Continue)
        }
    };
    run(&warm, &GenerationConfig::greedy(4, &[]))?;
    let rows = prompts.len();
    let mut runs = Vec::new();
    for _ in 0..args.repeats.max(1) {
        let out = run(&prompts, &config)?;
        let s = out.stats;
        runs.push(GenerateRun {
            prefill_seconds: s.prefill_seconds,
            decode_seconds: s.decode_seconds,
            prefill_tokens_per_s: s.prefill_tokens_per_s(),
            decode_tokens_per_s: s.decode_tokens_per_s(rows),
        });
    }
    let prefill = median(
        &runs
            .iter()
            .map(|r| r.prefill_tokens_per_s)
            .collect::<Vec<_>>(),
    );
    let decode = median(
        &runs
            .iter()
            .map(|r| r.decode_tokens_per_s)
            .collect::<Vec<_>>(),
    );
    let peak_mb = peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
    let results = json!({
        "model": name,
        "dtype": dtype.to_string(),
        "device": args.model.load.device,
        "batch": rows,
        "kv_cache": !args.no_cache,
        "prompt_tokens": prompt_tokens,
        "new_tokens": args.new_tokens,
        "prefill_tokens_per_s": prefill,
        "decode_tokens_per_s": decode,
        "peak_rss_mb": peak_mb,
        "load_seconds": load_seconds,
        "runs": runs,
        "load_average_before": load_before,
        "load_average_after": machine_load(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).ok(),
    });
    let run = crate::run::RunDir::create("bench-generate", args.out.as_deref(), &args)?;
    crate::run::write_json_atomic(&run.file("results.json"), &results)?;
    run.write_summary(
        &crate::run::Summary {
            model: name.clone(),
            dataset: format!("synthetic: {rows} x {prompt_tokens} random ids"),
            n: runs.len(),
            accuracy: None,
            seconds: None,
            seed: Some(args.seed),
        },
        results.clone(),
    )?;
    println!(
        "{name} ({dtype}, batch {rows}{}): prefill {prefill:.1} tokens/s ({prompt_tokens} tokens), \
         decode {decode:.1} tokens/s ({} tokens), peak RSS {}",
        if args.no_cache { ", no KV cache" } else { "" },
        args.new_tokens,
        peak_mb.map_or("n/a".into(), |m| format!("{m:.0} MB"))
    );
    run.finish();
    Ok(())
}

/// Write a model as an HF folder: one of the book's `.pth` checkpoints, a `.gguf` file, an HF
/// folder or a hub id in; `config.json`, `model.safetensors` and the tokenizer files out.
///
///     cargo xtask convert --from qwen3-0.6B-rlvr-grpo-step00050.pth --to grpo-step50 \
///         --tokenizer ../shared/qwen3
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The model: a .pth checkpoint of the book's Qwen3Model, a .gguf file, an HF folder or a
    /// hub id.
    #[arg(long)]
    pub from: String,
    /// The HF folder to write (created or updated; weights replaced as a whole).
    #[arg(long)]
    pub to: PathBuf,
    /// For a .pth file: the architecture preset to check its shapes against (qwen3-0.6b ...
    /// qwen3-32b); inferred from the shapes when omitted.
    #[arg(long, value_name = "PRESET")]
    pub config: Option<String>,
    /// The tokenizer to write beside the weights: a folder (tokenizer.json and its side files)
    /// or a tokenizer.json file. Default: the model's own (its folder, the GGUF vocabulary, or
    /// the tokenizer.json beside a .pth file).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Precision of the written weights: f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

/// Runs `cargo xtask convert`.
pub fn convert(args: ConvertArgs) -> Result<()> {
    use reasoning_model::{Config, DType, DeviceSpec, Model, ModelPath, hub};
    use reasoning_tokenizer::Tokenizer;

    let dtype: DType = args.dtype.parse()?;
    let device = DeviceSpec::Cpu.device()?;
    let resolved =
        hub::resolve(&args.from).with_context(|| format!("cannot find {}", args.from))?;
    let preset = args.config.as_deref().map(Config::preset).transpose()?;
    let model = match (&resolved, &preset) {
        (ModelPath::Pth(path), preset) => {
            Model::load_pth(path, preset.as_ref(), &device, DType::F32)
        }
        (_, Some(_)) => bail!(
            "--config applies to .pth checkpoints only; {} carries its own",
            args.from
        ),
        (other, None) => Model::load(other.path(), &device, DType::F32),
    }
    .with_context(|| format!("cannot load {}", args.from))?;
    model
        .save_hf(&args.to, dtype)
        .with_context(|| format!("cannot write {}", args.to.display()))?;

    // The tokenizer: copied from a folder, else written from the loaded one.
    let beside_pth = match &resolved {
        ModelPath::Pth(path) => path
            .parent()
            .filter(|dir| dir.join("tokenizer.json").is_file())
            .map(Path::to_path_buf),
        _ => None,
    };
    let source: Option<PathBuf> = match (&args.tokenizer, &resolved) {
        (Some(t), _) => Some(t.clone()),
        (None, ModelPath::Pth(_)) => beside_pth,
        (None, other) => Some(other.path().to_path_buf()),
    };
    let written = match source {
        Some(src) if src.is_dir() => {
            let files =
                crate::common::tokenizer_files(Some(&src), &Tokenizer::load(&src)?, &args.to)?;
            let names: Vec<&str> = files
                .iter()
                .filter_map(|f| f.file_name()?.to_str())
                .collect();
            reasoning_model::hf::copy_files(&src, &args.to, &names)?;
            names.len()
        }
        Some(src) => {
            let tok = Tokenizer::load(&src)
                .with_context(|| format!("cannot load the tokenizer {}", src.display()))?;
            crate::common::tokenizer_files(None, &tok, &args.to)?.len()
        }
        None => 0,
    };
    let config = model.config();
    println!(
        "{} -> {} ({} parameters, {} layers, width {}, {} heads of {} sharing {} K/V heads, {} \
         head, {dtype})",
        args.from,
        args.to.display(),
        model.num_params(),
        config.num_hidden_layers,
        config.hidden_size,
        config.num_attention_heads,
        config.head_dim,
        config.num_key_value_heads,
        if config.tie_word_embeddings {
            "tied"
        } else {
            "untied"
        },
    );
    if written == 0 {
        println!(
            "no tokenizer was found beside {}: copy one into {} or rerun with --tokenizer \
             (e.g. a folder with Qwen3's tokenizer.json and tokenizer_config.json)",
            args.from,
            args.to.display()
        );
    }
    println!("{}", args.to.display());
    Ok(())
}
