//! The GRPO loss through a real (tiny) model, and the trainer end to end: gradients against
//! finite differences, batched log-probabilities against one-at-a-time scoring, a short run's
//! folder, exact resume, and the failure paths.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use common::{records, tiny_model, tokenizer};
use reasoning_grpo::advantage::AdvantageMode;
use reasoning_grpo::logprob::{pack, to_host, token_logprobs};
use reasoning_grpo::loss::{LossInputs, Normalizer};
use reasoning_grpo::reward::{RewardInput, RewardScore, RewardSpec};
use reasoning_grpo::{
    GrpoConfig, GrpoError, GrpoRun, Preset, Reward, grpo_loss, train, trainer::GrpoData,
};
use reasoning_inference::PromptBuilder;
use reasoning_model::Model;
use reasoning_train::LrSchedule;
use reasoning_train::params::param_data;
use reasoning_verifier::datasets::Record;

/// Four rollouts of two prompts (lengths 5 and 3), completions of 4, 6, 2 and 5 ids.
fn rollouts() -> Vec<(Vec<u32>, Vec<u32>)> {
    let p0: Vec<u32> = vec![72, 105, 32, 50, 43];
    let p1: Vec<u32> = vec![257, 61, 33];
    vec![
        (p0.clone(), vec![51, 52, 53, 258]),
        (p0, vec![40, 41, 42, 43, 44, 258]),
        (p1.clone(), vec![99, 258]),
        (p1, vec![70, 71, 72, 73, 74]),
    ]
}

/// The loss of `config` for fixed old/ref log-probabilities, advantages and counts.
fn loss_value(model: &Model, config: &reasoning_grpo::LossConfig, inputs: &LossInputs) -> f64 {
    let data = rollouts();
    let pairs: Vec<(&[u32], &[u32])> = data.iter().map(|(p, c)| (&p[..], &c[..])).collect();
    let packed = pack(&pairs, 0);
    let logp = token_logprobs(model, &packed, false).logp;
    grpo_loss(config, logp, inputs).stats.loss
}

/// Returns `model` with element `k` of the flattened layer-1 down projection moved by `h`.
fn nudge(model: &Model, which: &str, k: usize, h: f32) -> Model {
    let mut m = model.clone();
    let param = match which {
        "down_proj" => &mut m.model.layers[1].mlp.down_proj.weight,
        _ => &mut m.model.embed_tokens.weight,
    };
    let t = param.val();
    let dims = t.dims();
    let mut values: Vec<f32> = t.into_data().iter::<f32>().collect();
    values[k] += h;
    *param = Param::from_tensor(Tensor::<2>::from_data(
        TensorData::new(values, dims),
        &model.device(),
    ));
    m
}

#[test]
fn loss_gradients_match_finite_differences_through_a_tiny_model() {
    let device = Device::flex().autodiff();
    let model = tiny_model(3, &device);
    let data = rollouts();
    let pairs: Vec<(&[u32], &[u32])> = data.iter().map(|(p, c)| (&p[..], &c[..])).collect();
    let packed = pack(&pairs, 0);
    let current = to_host(token_logprobs(&model.valid(), &packed, false).logp);
    // An old policy and a reference a little away from the current one, so ratios spread
    // around 1 (some clipped at ε = 0.2) and the KL terms are not zero.
    let old: Vec<f32> = current
        .iter()
        .enumerate()
        .map(|(k, x)| x + 0.3 * (k as f32).sin())
        .collect();
    let reference: Vec<f32> = current
        .iter()
        .enumerate()
        .map(|(k, x)| x + 0.2 * (k as f32 * 0.7).cos())
        .collect();
    let tokens: f32 = packed.mask.iter().sum();
    let inputs = LossInputs {
        rows: packed.rows,
        cols: packed.cols,
        old_logp: old,
        ref_logp: Some(reference),
        mask: packed.mask.clone(),
        advantages: vec![1.0, -0.5, 0.7, -1.2],
        token_advantages: None,
        norm: Normalizer {
            rollouts: 4.0,
            tokens: f64::from(tokens),
            max_len: 8.0,
        },
    };
    let valid = model.valid();
    let mut checked = 0;
    // CISPO's loss value is a surrogate: its ratio weight is held constant (stop-gradient), so
    // the difference of its values is not its gradient (its gradient is checked by hand in
    // the loss module's tests).
    for name in Preset::ALL
        .map(Preset::name)
        .into_iter()
        .filter(|&n| n != "cispo")
    {
        let mut config = name.parse::<Preset>().unwrap().algorithm().loss;
        if config.kl_coef == 0.0 {
            config.kl_coef = 0.1; // exercise each estimator's gradient too
        }
        if config.eps_high < 0.1 {
            // GSPO's clip range (4e-4) is narrower than the finite-difference step moves the
            // ratio, so the difference would straddle the clip's kink: test its formula wider.
            (config.eps_low, config.eps_high) = (0.2, 0.2);
        }
        for which in ["down_proj", "embed"] {
            // Autodiff gradient of the element with the largest gradient.
            let logp = token_logprobs(&model, &packed, false).logp;
            let loss = grpo_loss(&config, logp, &inputs).loss;
            let grads = loss.backward();
            let weight = match which {
                "down_proj" => model.model.layers[1].mlp.down_proj.weight.val(),
                _ => model.model.embed_tokens.weight.val(),
            };
            let g: Vec<f32> = weight
                .grad(&grads)
                .unwrap()
                .into_data()
                .iter::<f32>()
                .collect();
            let (k, &gk) = g
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .unwrap();
            // Central difference of the loss.
            let h = 2e-3f32;
            let up = loss_value(&nudge(&valid, which, k, h), &config, &inputs);
            let down = loss_value(&nudge(&valid, which, k, -h), &config, &inputs);
            let fd = (up - down) / (2.0 * f64::from(h));
            let gk = f64::from(gk);
            let tol = 0.03 * gk.abs().max(fd.abs()) + 2e-4;
            assert!(
                (fd - gk).abs() <= tol,
                "{name} / {which}[{k}]: finite difference {fd:.6}, autodiff {gk:.6}"
            );
            checked += usize::from(gk.abs() > 1e-3);
        }
    }
    assert!(
        checked >= 20,
        "only {checked} checks had a gradient to compare"
    );
}

#[test]
fn batched_logprobs_equal_scoring_each_rollout_alone() {
    let model = tiny_model(5, &Device::flex());
    let data = rollouts();
    let pairs: Vec<(&[u32], &[u32])> = data.iter().map(|(p, c)| (&p[..], &c[..])).collect();
    let packed = pack(&pairs, 0);
    let batched = to_host(token_logprobs(&model, &packed, false).logp);
    for (i, (prompt, completion)) in data.iter().enumerate() {
        let alone = reasoning_inference::score_continuations(
            &model,
            prompt,
            std::slice::from_ref(completion),
        )
        .unwrap()
        .remove(0)
        .logprobs;
        let row: Vec<f32> = (0..packed.cols)
            .filter(|&c| packed.mask[i * packed.cols + c] > 0.0)
            .map(|c| batched[i * packed.cols + c])
            .collect();
        assert_eq!(row.len(), alone.len());
        for (a, b) in row.iter().zip(&alone) {
            assert!((a - b).abs() < 1e-4, "rollout {i}: {row:?} vs {alone:?}");
        }
    }
}

#[test]
fn the_keep_sampling_mask_trains_on_the_support_each_token_was_drawn_from() {
    let (_guard, _tok_dir, tok) = tokenizer();
    let model = tiny_model(3, &Device::flex());
    let mut config = tiny_config("deepseek-v32", 1);
    assert!(config.algorithm.keep_sampling_mask);
    (config.top_p, config.top_k) = (0.9, Some(6));
    let generation = config.rollout_generation(&tok, &model);
    assert!(generation.record_support);
    let prompts: Vec<(usize, Vec<u32>)> =
        (0..2).map(|i| (i, vec![72, 105 + i as u32, 32])).collect();
    let prompts: Vec<(usize, &[u32])> = prompts.iter().map(|(i, p)| (*i, &p[..])).collect();
    let batch =
        reasoning_grpo::step::sample_rollouts(&model, &tok, &prompts, 4, &generation, 7).unwrap();
    let mut pairs = Vec::new();
    let mut supports = Vec::new();
    for group in &batch.groups {
        for r in &group.rollouts {
            // One support per generated id, holding it, at most top-k wide.
            assert_eq!(r.support.len(), r.ids.len());
            for (id, s) in r.ids.iter().zip(&r.support) {
                assert!(s.contains(id) && (1..=6).contains(&s.len()), "{id} {s:?}");
            }
            pairs.push((&group.prompt[..], &r.ids[..]));
            supports.push(&r.support[..]);
        }
    }
    let plain = pack(&pairs, 0);
    let mut kept = plain.clone();
    kept.set_supports(&pairs, &supports);
    let full = to_host(token_logprobs(&model, &plain, false).logp);
    let within = to_host(token_logprobs(&model, &kept, false).logp);
    let mut raised = 0;
    for (k, (&f, &w)) in full.iter().zip(&within).enumerate() {
        if plain.mask[k] == 0.0 {
            continue;
        }
        // Renormalised over a subset of the vocabulary: never lower, higher when it dropped
        // some probability mass (always, with top-k 6 of 261 ids).
        assert!(w >= f - 1e-6 && w <= 1e-6, "position {k}: {w} vs {f}");
        if w > f + 1e-4 {
            raised += 1;
        }
    }
    assert!(raised > 0);
    // Without the mask the rollouts carry no supports and nothing changes.
    config.algorithm.keep_sampling_mask = false;
    let generation = config.rollout_generation(&tok, &model);
    let batch =
        reasoning_grpo::step::sample_rollouts(&model, &tok, &prompts, 4, &generation, 7).unwrap();
    assert!(
        batch
            .groups
            .iter()
            .flat_map(|g| &g.rollouts)
            .all(|r| r.support.is_empty())
    );
}

/// A run configuration small enough for a test: 2 prompts × 4 rollouts of at most 6 ids.
fn tiny_config(name: &str, steps: u64) -> GrpoConfig {
    let preset: Preset = name.parse().unwrap();
    let mut algorithm = preset.algorithm();
    // A random model never answers correctly: a coin gives the groups some variance.
    algorithm.reward = RewardSpec::Random { p: 0.5, seed: 9 };
    GrpoConfig {
        preset,
        algorithm,
        steps,
        prompts_per_step: 2,
        num_rollouts: 4,
        max_new_tokens: 6,
        schedule: LrSchedule::Constant { lr: 1e-3 },
        eval_every: 2,
        eval_batch_size: 2,
        eval_max_new_tokens: 6,
        checkpoint_every: 0,
        sample_every: 1,
        seed: 11,
        ..GrpoConfig::default()
    }
}

/// A fresh run in `dir`, never stopped, that copies the tokenizer's files from `tok_dir` into
/// its checkpoints (and the final model, written only when `save_model`).
fn fresh_run<'a>(dir: &'a Path, tok_dir: &Path, save_model: bool) -> GrpoRun<'a> {
    GrpoRun {
        dir,
        extra_files: vec![
            tok_dir.join("tokenizer.json"),
            tok_dir.join("tokenizer_config.json"),
        ],
        resume: false,
        stop: None,
        save_model,
        collective: reasoning_train::collective::SINGLE,
    }
}

/// Training on `train` and evaluating on `eval`, with the default prompt.
fn problems<'a>(train: &'a [Record], eval: &'a [Record]) -> GrpoData<'a> {
    GrpoData {
        train,
        eval,
        prompt: PromptBuilder::default(),
    }
}

#[test]
fn two_steps_end_to_end_write_the_whole_run_folder() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let (train_set, eval_set) = (records(6, "train"), records(3, "test"));
    for name in ["6-grpo", "dapo", "grpo", "deepseek-v32"] {
        let dir = out.path().join(name);
        let run = fresh_run(&dir, &tok_dir, true);
        let data = problems(&train_set, &eval_set);
        let mut seen = Vec::new();
        let model = tiny_model(1, &Device::flex().autodiff());
        let outcome = train(
            model,
            &tok,
            data,
            None,
            &tiny_config(name, 2),
            &run,
            &mut |p| seen.push(p.step),
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![0, 1, 2],
            "{name}: progress after the start eval and each step"
        );
        assert_eq!(outcome.steps, 2);
        assert_eq!(outcome.eval_history.len(), 2, "{name}: start and step 2");
        assert!(outcome.start_accuracy.is_some() && outcome.final_accuracy.is_some());
        let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4, "{name}: header, step 0, steps 1-2\n{csv}");
        assert!(lines[0].starts_with("step,loss,reward_avg,reward_std,frac_zero_std"));
        for file in [
            "metrics.png",
            "samples.jsonl",
            "eval/step-000000.jsonl",
            "eval/step-000002.jsonl",
            "checkpoints/step-000002/optimizer.safetensors",
            "model/model.safetensors",
            "model/tokenizer.json",
        ] {
            assert!(dir.join(file).is_file(), "{name}: {file} is missing");
        }
        let samples = std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
        assert_eq!(
            samples.lines().count(),
            2,
            "{name}: one sample line per step"
        );
        let first: serde_json::Value =
            serde_json::from_str(samples.lines().next().unwrap()).unwrap();
        assert_eq!(first["rollouts"].as_array().unwrap().len(), 4);
        // The final model folder loads as a model with its tokenizer.
        let lm = reasoning_inference::LoadedModel::load(
            dir.join("model").to_str().unwrap(),
            None,
            &Device::flex(),
            reasoning_model::DType::F32,
        )
        .unwrap();
        assert_eq!(lm.model.config().num_hidden_layers, 2);
    }
}

#[test]
fn a_resumed_run_equals_the_straight_run() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let (train_set, eval_set) = (records(5, "train"), records(2, "test"));
    // 7.4 (two updates per step on fresh rollouts from the frozen copy) and olmo3 (active
    // sampling) touch every state a resume must restore; 5 records make step 3 cross an epoch.
    for name in ["7.4-clip-ratio", "olmo3"] {
        let config = tiny_config(name, 4);
        let data = problems(&train_set, &eval_set);
        let go = |dir: &Path, resume: bool, stop: Option<&AtomicBool>, stop_at: u64| {
            let run = GrpoRun {
                resume,
                stop,
                ..fresh_run(dir, &tok_dir, false)
            };
            let model = tiny_model(1, &Device::flex().autodiff());
            train(model, &tok, data.clone(), None, &config, &run, &mut |p| {
                if p.step == stop_at {
                    stop.unwrap().store(true, Ordering::Relaxed);
                }
            })
            .unwrap()
        };
        let straight_dir = out.path().join(format!("{name}-straight"));
        let straight = go(&straight_dir, false, None, u64::MAX);
        let split_dir = out.path().join(format!("{name}-split"));
        let flag = AtomicBool::new(false);
        let first = go(&split_dir, false, Some(&flag), 2);
        assert!(first.interrupted, "{name}: the flag stops the run");
        assert_eq!(first.steps, 2);
        assert!(split_dir.join("checkpoints/step-000002").is_dir());
        let flag = AtomicBool::new(false);
        let resumed = go(&split_dir, true, Some(&flag), u64::MAX);
        assert_eq!(resumed.steps, 4);
        assert_eq!(
            param_data(&straight.model),
            param_data(&resumed.model),
            "{name}: weights differ after resume"
        );
        assert_eq!(straight.eval_history, resumed.eval_history, "{name}");
        // Metrics agree except the timing column; samples agree exactly.
        let strip = |dir: &Path| -> Vec<String> {
            let table = reasoning_train::read_csv(&dir.join("metrics.csv")).unwrap();
            let t = table.column_index("tokens_per_sec").unwrap();
            table
                .rows
                .iter()
                .map(|r| {
                    let mut r = r.clone();
                    r[t] = None;
                    format!("{r:?}")
                })
                .collect()
        };
        assert_eq!(strip(&straight_dir), strip(&split_dir), "{name}");
        let samples = |dir: &Path| std::fs::read_to_string(dir.join("samples.jsonl")).unwrap();
        assert_eq!(samples(&straight_dir), samples(&split_dir), "{name}");
    }
}

/// A model's parameters by path.
type Weights = std::collections::BTreeMap<String, TensorData>;

/// One step's (loss, gradient norm) from `metrics.csv`.
type StepLoss = (Option<f64>, Option<f64>);

/// Trains a fresh tiny model with `config` into `dir` (no final model folder) and returns its
/// weights and every step's (loss, gradient norm).
fn train_weights_and_losses(
    config: &GrpoConfig,
    dir: &Path,
    tok: &reasoning_tokenizer::Tokenizer,
    tok_dir: &Path,
    data: GrpoData<'_>,
) -> (Weights, Vec<StepLoss>) {
    let run = fresh_run(dir, tok_dir, false);
    let model = tiny_model(1, &Device::flex().autodiff());
    let outcome = train(model, tok, data, None, config, &run, &mut |_| {}).unwrap();
    let csv = reasoning_train::read_csv(&dir.join("metrics.csv")).unwrap();
    let l = csv.column_index("loss").unwrap();
    let g = csv.column_index("grad_norm").unwrap();
    let cols = csv.rows.iter().map(|r| (r[l], r[g])).collect();
    (param_data(&outcome.model), cols)
}

#[test]
fn parallel_workers_give_the_same_run_as_one_worker() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let (train_set, eval_set) = (records(4, "train"), records(2, "test"));
    // 7.4 reuses stored old log-probabilities across its two updates; 7.5-kl adds the
    // reference model; dr-grpo is the default run's preset.
    for name in ["7.4-clip-ratio", "7.5-kl", "dr-grpo"] {
        let data = problems(&train_set, &eval_set);
        let go = |workers: usize| {
            let mut config = tiny_config(name, 2);
            config.micro_batch_size = 3; // 8 rollouts: micro-batches of 3, 3 and 2
            config.workers = workers;
            let dir = out.path().join(format!("{name}-{workers}"));
            train_weights_and_losses(&config, &dir, &tok, &tok_dir, data.clone())
        };
        let (one, one_cols) = go(1);
        let (two, two_cols) = go(2);
        assert_eq!(one_cols, two_cols, "{name}: losses and gradient norms");
        assert_eq!(one, two, "{name}: weights differ with two workers");
    }
}

#[test]
fn process_supervision_with_one_step_per_rollout_trains_like_the_group_advantage() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let (train_set, eval_set) = (records(4, "train"), records(2, "test"));
    let data = problems(&train_set, &eval_set);
    // The coin reward has no steps: each rollout is one step at its end, so the per-token
    // advantages are the book's A_i on every token (and go through the per-token path).
    let go = |advantage: AdvantageMode| {
        let mut config = tiny_config("grpo", 2);
        config.algorithm.advantage = advantage;
        let dir = out.path().join(format!("{advantage:?}"));
        train_weights_and_losses(&config, &dir, &tok, &tok_dir, data.clone())
    };
    let (book, book_cols) = go(AdvantageMode::GroupStd { eps: 1e-4 });
    let (process, process_cols) = go(AdvantageMode::Process {
        eps: 1e-4,
        std: true,
    });
    assert_eq!(book_cols, process_cols, "losses and gradient norms");
    assert_eq!(book, process, "weights");
    // A sequence-level ratio has no tokens to give per-token advantages to.
    let mut config = tiny_config("gspo", 1);
    config.algorithm.advantage = AdvantageMode::Process {
        eps: 1e-4,
        std: true,
    };
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("advantage"), "{err}");
}

/// A reward that returns huge values from its `after`-th call on (an exploding reward model).
struct Exploding {
    calls: AtomicUsize,
    after: usize,
}

impl Reward for Exploding {
    fn name(&self) -> String {
        "exploding".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let big = n >= self.after && n.is_multiple_of(2);
        let _ = input;
        Ok(RewardScore::single(
            "x",
            if big { 1e300 } else { (n % 2) as f64 },
        ))
    }
}

#[test]
fn a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let (train_set, eval_set) = (records(6, "train"), records(2, "test"));
    // Dr. GRPO does not divide by the std, so a reward of 1e300 overflows the f32 loss.
    let mut config = tiny_config("dr-grpo", 3);
    config.checkpoint_every = 1;
    let reward = Exploding {
        calls: AtomicUsize::new(0),
        after: 8,
    };
    let dir = out.path().join("run");
    let run = fresh_run(&dir, &tok_dir, true);
    let data = problems(&train_set, &eval_set);
    let model = tiny_model(1, &Device::flex().autodiff());
    let err = train(model, &tok, data, Some(&reward), &config, &run, &mut |_| {}).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            GrpoError::Train(reasoning_train::TrainError::NonFinite { step: 2, .. })
        ),
        "{message}"
    );
    assert!(message.contains("non-finite loss"), "{message}");
    assert!(dir.join("checkpoints/step-000001").is_dir());
    assert!(!dir.join("checkpoints/step-000002").exists());
    assert!(
        !dir.join("model").exists(),
        "no final model after a failure"
    );
}

/// A reward that fails on its third call.
struct Failing;

impl Reward for Failing {
    fn name(&self) -> String {
        "judge".into()
    }

    fn score(&self, input: &RewardInput<'_>) -> Result<RewardScore, String> {
        if input.record.unique_id.as_deref() == Some("train/0") {
            Ok(RewardScore::single("judge", f64::NAN))
        } else {
            Ok(RewardScore::single("judge", 1.0))
        }
    }
}

#[test]
fn a_reward_that_returns_nan_is_refused_with_its_name() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let train_set = records(1, "train");
    let run = fresh_run(out.path(), &tok_dir, false);
    let data = problems(&train_set, &[]);
    let model = tiny_model(1, &Device::flex().autodiff());
    let mut config = tiny_config("6-grpo", 1);
    config.prompts_per_step = 1;
    let err = train(
        model,
        &tok,
        data,
        Some(&Failing),
        &config,
        &run,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("reward \"judge\" on rollout 0") && err.contains("NaN"),
        "{err}"
    );
}

#[test]
fn settings_out_of_range_are_refused_by_name() {
    let (_guard, tok_dir, tok) = tokenizer();
    let out = tempfile::tempdir().unwrap();
    let train_set = records(2, "train");
    let run = fresh_run(out.path(), &tok_dir, false);
    let data = problems(&train_set, &[]);
    let mut config = tiny_config("6-grpo", 1);
    config.num_rollouts = 1;
    let model = tiny_model(1, &Device::flex().autodiff());
    let err = train(model, &tok, data.clone(), None, &config, &run, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("num_rollouts = 1"), "{err}");
    // Training needs autodiff.
    let model = tiny_model(1, &Device::flex());
    let err = train(
        model,
        &tok,
        data,
        None,
        &tiny_config("6-grpo", 1),
        &run,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("autodiff"), "{err}");
}
