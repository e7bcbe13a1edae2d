//! The policy losses of every preset, on per-token log-probabilities (chapters 6-7).
//!
//! The trainer hands [`grpo_loss`] the current policy's log-probability of every completion
//! token (`[R, T]`, with gradient), plus constants: the rollout ("old") policy's
//! log-probabilities, the reference model's (for KL), a mask of completion tokens, one
//! advantage per rollout, and the batch-wide counts the aggregation divides by. The loss is
//! `−J + β · KL`, where `J` is built from four choices:
//!
//! ```text
//! ratio      none        J_it = A_i · log π_θ(o_it)                       REINFORCE (book ch. 6)
//!            sequence    ρ_i  = exp(S_i − S_i^old)                        product of token ratios (book 7.4)
//!            geometric   s_i  = exp((S_i − S_i^old) / |o_i|)              GSPO
//!            token       ρ_it = exp(log π_θ(o_it) − log π_old(o_it))     PPO, DAPO, Dr. GRPO
//! clip       ppo         f(ρ, A) = min(ρA, clip(ρ, 1−ε_low, 1+ε_high) A)
//!            book        f(ρ, A) = A ≥ 0 ? min(ρA, clip(ρ)A) : max(ρA, clip(ρ)A) = A · min(ρ, 1+ε_high)
//!            cispo       f(ρ, A) = sg(clip(ρ, 1−ε_low, 1+ε_high)) · A · log π_θ(o_it)
//!            truncation  ρ ← min(ρ, c) before clipping (the book's stand-in for truncated IS)
//! aggregate  seq-mean    J = (1/R) Σ_i Σ_t j_it   or (1/R) Σ_i j_i         the book: mean over rollouts
//!            token-mean  J = (1/Σ_i |o_i|) Σ_i Σ_t j_it                   DAPO, Olmo 3, CISPO
//!            seq-token   J = (1/R) Σ_i (1/|o_i|) Σ_t j_it                 GRPO paper
//!            const-len   J = (1/(R · L)) Σ_i Σ_t j_it                     Dr. GRPO, L = max_new_tokens
//! KL (β)     k1-seq      KL = (1/R) Σ_i (S_i − S_i^ref)                   book 7.5 (sequence sums)
//!            k1-seq-is   KL = (1/R) Σ_i ρ_i (S_i − S_i^ref)              book's DeepSeek-V3.2 script
//!            k3          KL = agg_it[ exp(x) − x − 1 ],  x = log π_ref − log π_θ   GRPO paper (per token)
//!            k3-is       KL = agg_it[ ρ_it (exp(x) − x − 1) ]             DeepSeek-V3.2 (unbiased)
//! masking    off-policy  A_i ← 0  if A_i < 0 and (S_i^old − S_i)/|o_i| > δ     DeepSeek-V3.2
//! ```
//!
//! `S_i^X = Σ_t log π_X(o_it)` over the completion's tokens (stop id included, as in the book),
//! `|o_i|` its number of tokens, `R` the rollouts of the update, `sg` stop-gradient, `A_i` the
//! advantage ([`crate::advantage`]). Log-probabilities are at temperature 1 over the full
//! vocabulary, although rollouts were sampled at T = 0.8 with top-p (the book's convention).
//!
//! **The book's sign quirk.** The book's clipped objective picks `max` for negative advantages,
//! which gives `A · min(ρ, 1+ε_high)` for both signs: the lower clip `1 − ε_low` never acts, and
//! a negative-advantage update is capped above instead of below. The presets named after book
//! sections keep it ([`ClipRule::Book`]); the presets named after papers use PPO's
//! `min(ρA, clip(ρ)A)` ([`ClipRule::Ppo`]). Both are unit-tested.
//!
//! With one update per batch the old policy *is* the current one, so `ρ = 1` in value while
//! its gradient is `A ∇log π`: every clipped objective then reduces to a policy gradient with
//! its own aggregation, and the logged loss of a ratio objective is `−mean(A) ≈ 0` (the
//! "why is my loss zero" of TRL issue 3857). Clipping acts only from the second update on the
//! same policy snapshot (`inner_epochs > 1`).

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Which ratio the objective is built from (and whether there is one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RatioLevel {
    /// No ratio: `j_it = A_i log π_θ(o_it)` (REINFORCE with the group baseline, book ch. 6).
    None,
    /// One ratio per rollout, `exp(S_i − S_i^old)` (the book's 7.4).
    Sequence,
    /// One ratio per rollout, the geometric mean of its token ratios (GSPO).
    Geometric,
    /// One ratio per token (PPO, DAPO, Dr. GRPO, CISPO).
    Token,
}

/// How the ratio is clipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClipRule {
    /// `min(ρA, clip(ρ)A)`: PPO, TRL, verl.
    Ppo,
    /// `A ≥ 0 ? min(ρA, clip(ρ)A) : max(ρA, clip(ρ)A)`: the book's scripts.
    Book,
    /// CISPO: `sg(clip(ρ)) · A · log π_θ`, every token keeps a gradient.
    Cispo,
}

/// What the objective is averaged over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    /// Sum over a rollout's tokens, mean over rollouts (the book).
    SeqMean,
    /// Mean over every completion token of the batch (DAPO).
    TokenMean,
    /// Mean over each rollout's tokens, then over rollouts (the GRPO paper).
    SeqTokenMean,
    /// Sum over tokens divided by `R · max_new_tokens` (Dr. GRPO).
    ConstLen,
}

/// The KL estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KlEstimator {
    /// `S − S^ref` per rollout, mean over rollouts (the book's 7.5).
    K1Seq,
    /// `ρ_i (S_i − S_i^ref)`: the book's DeepSeek-V3.2 script.
    K1SeqIs,
    /// `exp(x) − x − 1`, `x = log π_ref − log π_θ`, per token (the GRPO paper).
    K3,
    /// `ρ_it (exp(x) − x − 1)` per token: DeepSeek-V3.2's unbiased estimator.
    K3Is,
}

/// Every choice of the loss (see the module docs for the equations).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    /// The ratio.
    pub ratio: RatioLevel,
    /// The clip rule (ignored when `ratio` is `None`).
    pub clip: ClipRule,
    /// `ε_low`: the ratio's lower bound is `1 − ε_low`.
    pub eps_low: f64,
    /// `ε_high`: the ratio's upper bound is `1 + ε_high`.
    pub eps_high: f64,
    /// Cap the ratio at this value before clipping (the book's truncated-IS stand-in).
    pub truncate: Option<f64>,
    /// What the objective is averaged over.
    pub aggregation: Aggregation,
    /// KL coefficient `β` (0: no reference model is built).
    pub kl_coef: f64,
    /// KL estimator.
    pub kl: KlEstimator,
    /// DeepSeek-V3.2's off-policy sequence masking threshold `δ`.
    pub off_policy_delta: Option<f64>,
}

impl Default for LossConfig {
    /// The book's chapter-6 loss: `−(1/G) Σ_i A_i S_i`.
    fn default() -> Self {
        Self {
            ratio: RatioLevel::None,
            clip: ClipRule::Book,
            eps_low: 0.2,
            eps_high: 10.0,
            truncate: None,
            aggregation: Aggregation::SeqMean,
            kl_coef: 0.0,
            kl: KlEstimator::K1Seq,
            off_policy_delta: None,
        }
    }
}

impl LossConfig {
    /// Whether this loss has a per-rollout unit (sequence or geometric ratio) rather than
    /// per-token terms.
    pub(crate) fn sequence_unit(&self) -> bool {
        matches!(self.ratio, RatioLevel::Sequence | RatioLevel::Geometric)
    }
}

/// Batch-wide counts the aggregation divides by. When an update is split into micro-batches,
/// they count the whole update, so the micro-batch losses add up to the full loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalizer {
    /// `R`: rollouts with at least one scored token.
    pub rollouts: f64,
    /// `Σ_i |o_i|`: scored tokens.
    pub tokens: f64,
    /// `L`: Dr. GRPO's constant length (`max_new_tokens`).
    pub max_len: f64,
}

/// The constants of one (micro-)batch, row-major on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct LossInputs {
    /// Rollouts `R` in this micro-batch.
    pub rows: usize,
    /// Token positions `T` per row.
    pub cols: usize,
    /// `log π_old` per token, `[R·T]` (anything at masked positions).
    pub old_logp: Vec<f32>,
    /// `log π_ref` per token, `[R·T]`, when `β ≠ 0`.
    pub ref_logp: Option<Vec<f32>>,
    /// 1 for a scored completion token, 0 for prompt, padding and filtered rollouts, `[R·T]`.
    pub mask: Vec<f32>,
    /// `A_i`, `[R]`.
    pub advantages: Vec<f32>,
    /// `A_it` per token, `[R·T]`, replacing `A_i` in a token-level objective (process
    /// supervision, [`crate::advantage::process_advantages`]); `None`: every token of row `i`
    /// gets `A_i`.
    pub token_advantages: Option<Vec<f32>>,
    /// The update's counts.
    pub norm: Normalizer,
}

impl LossInputs {
    /// `|o_i|`: the scored tokens of each row.
    pub fn lengths(&self) -> Vec<f32> {
        self.mask
            .chunks(self.cols.max(1))
            .map(|r| r.iter().sum())
            .collect()
    }
}

/// Values of one loss evaluation, summable over micro-batches.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossStats {
    /// The loss `−J + β · KL`.
    pub loss: f64,
    /// `−J`.
    pub pg_loss: f64,
    /// The KL estimate (before `β`); 0 without a reference.
    pub kl: f64,
    /// Units (tokens or rollouts) whose clip was active.
    pub clipped: f64,
    /// Units counted for `clipped` and `ratio_sum`.
    pub units: f64,
    /// Sum of the ratio over units (mean = `ratio_sum / units`).
    pub ratio_sum: f64,
    /// Rollouts whose negative advantage was zeroed by off-policy masking.
    pub off_policy_masked: usize,
}

impl LossStats {
    /// Adds another micro-batch's values.
    pub fn add(&mut self, o: &LossStats) {
        self.loss += o.loss;
        self.pg_loss += o.pg_loss;
        self.kl += o.kl;
        self.clipped += o.clipped;
        self.units += o.units;
        self.ratio_sum += o.ratio_sum;
        self.off_policy_masked += o.off_policy_masked;
    }

    /// Fraction of units whose clip was active.
    pub fn clip_frac(&self) -> f64 {
        if self.units > 0.0 {
            self.clipped / self.units
        } else {
            0.0
        }
    }

    /// Mean ratio (1 when there is none).
    pub fn ratio_mean(&self) -> f64 {
        if self.units > 0.0 {
            self.ratio_sum / self.units
        } else {
            1.0
        }
    }
}

/// The loss tensor (a scalar `[1]`) and its values.
#[derive(Debug, Clone)]
pub struct LossOutput {
    /// `−J + β · KL`, with gradient through `logp`.
    pub loss: Tensor<1>,
    /// Host values.
    pub stats: LossStats,
}

/// Returns the book's chapter-6 loss, `−(1/G) Σ_i A_i S_i`, written out as the book writes it.
///
/// `S_i = Σ_t log π_θ(o_it)` sums row `i` of `logp` over its completion tokens (`mask` 1),
/// `G` counts the rows with at least one such token. This is the [`Preset::Book6`] loss
/// (tested equal to [`grpo_loss`] with that preset's [`LossConfig`]); the general function
/// exists because every other row of the module's table needs more than this.
///
/// # Shapes
/// - `logp`, `mask`: `[G, T]` (row-major `mask`), `advantages`: `[G]`; returns a scalar `[1]`
///
/// # Panics
/// If `mask` or `advantages` does not match `logp`'s shape.
///
/// [`Preset::Book6`]: crate::Preset::Book6
pub fn book_loss(logp: Tensor<2>, mask: &[f32], advantages: &[f32]) -> Tensor<1> {
    let [rows, cols] = logp.dims();
    assert_eq!(mask.len(), rows * cols, "mask length");
    assert_eq!(advantages.len(), rows, "advantages length");
    let device = logp.device();
    let mask_t = Tensor::<2>::from_data(TensorData::new(mask.to_vec(), [rows, cols]), &device);
    let seq_logp = (logp * mask_t).sum_dim(1).squeeze_dim::<1>(1); // [G]
    let groups = mask
        .chunks(cols.max(1))
        .filter(|r| r.iter().any(|&m| m > 0.0))
        .count()
        .max(1);
    let adv = Tensor::<1>::from_data(TensorData::new(advantages.to_vec(), [rows]), &device);
    (adv * seq_logp).sum().neg() / groups as f32
}

/// Computes the loss of `config` from the current policy's per-token log-probabilities.
///
/// It follows the module's table row by row: [`aggregation_weights`], then
/// [`off_policy_masking`], the objective ([`sequence_objective`] or [`token_objective`], which
/// build the ratio and apply the clip rule), then [`kl_penalty`].
///
/// # Shapes
/// - `logp`: `[R, T]`, row `i` the log-probabilities `log π_θ(o_it)` (any value where masked)
/// - returns a scalar `[1]`
///
/// # Panics
/// If the host vectors do not match `logp`'s shape, or `β ≠ 0` without `ref_logp`.
pub fn grpo_loss(config: &LossConfig, logp: Tensor<2>, inputs: &LossInputs) -> LossOutput {
    let [rows, cols] = logp.dims();
    assert_eq!((rows, cols), (inputs.rows, inputs.cols), "loss input shape");
    assert_eq!(inputs.old_logp.len(), rows * cols, "old_logp length");
    assert_eq!(inputs.mask.len(), rows * cols, "mask length");
    assert_eq!(inputs.advantages.len(), rows, "advantages length");
    if let Some(a) = &inputs.token_advantages {
        assert_eq!(a.len(), rows * cols, "token advantages length");
        assert!(
            !config.sequence_unit(),
            "per-token advantages need a token-level objective"
        );
    }
    let device = logp.device();
    let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);

    // Step 1: aggregation weights w_it of token terms, v_i of rollout terms.
    let weights = aggregation_weights(config.aggregation, inputs);

    let mask = t2(&inputs.mask);
    let old = t2(&inputs.old_logp);
    // Zero the masked positions so sums over a row are sums over its completion.
    let logp = logp * mask.clone();
    let old = old * mask.clone();
    let seq_logp = logp.clone().sum_dim(1).squeeze_dim::<1>(1); // [R]
    let seq_old = old.clone().sum_dim(1).squeeze_dim::<1>(1); // [R]

    // Step 2: off-policy sequence masking of negative advantages (DeepSeek-V3.2).
    let (adv, masked) = match config.off_policy_delta {
        Some(delta) => off_policy_masking(
            delta,
            &host(seq_logp.clone()),
            &host(seq_old.clone()),
            &weights.lengths,
            &inputs.advantages,
        ),
        None => (inputs.advantages.clone(), 0),
    };

    // Step 3: the objective J and its clip statistics.
    let mut stats = LossStats {
        off_policy_masked: masked,
        ..LossStats::default()
    };
    let objective = if config.sequence_unit() {
        let seq = SequenceTerms {
            logp: seq_logp.clone(),
            old: seq_old.clone(),
        };
        sequence_objective(config, seq, &adv, &weights, &mut stats)
    } else {
        let tokens = TokenTerms {
            logp: logp.clone(),
            old: old.clone(),
        };
        token_objective(config, tokens, &adv, inputs, &weights, &mut stats)
    };
    let pg_loss = objective.neg();

    // Step 4: the KL penalty.
    let loss = if config.kl_coef != 0.0 {
        let reference = inputs
            .ref_logp
            .as_ref()
            .expect("a KL penalty needs the reference log-probabilities");
        let reference = t2(reference) * mask.clone();
        let terms = KlTerms {
            logp,
            old,
            seq_logp,
            seq_old,
            reference,
        };
        let kl = kl_penalty(config, terms, &weights);
        stats.kl = f64::from(kl.clone().into_scalar::<f32>());
        pg_loss.clone() + kl * config.kl_coef
    } else {
        pg_loss.clone()
    };
    stats.pg_loss = f64::from(pg_loss.into_scalar::<f32>());
    stats.loss = f64::from(loss.clone().into_scalar::<f32>());
    LossOutput { loss, stats }
}

/// The weights each aggregation divides by, laid out on the host (the table's "aggregate" row).
#[derive(Debug, Clone, PartialEq)]
pub struct AggregationWeights {
    /// `|o_i|`, the scored tokens of each row.
    pub lengths: Vec<f32>,
    /// `w_it`: the weight of each token term, `[R·T]` (0 where masked).
    pub token: Vec<f32>,
    /// `v_i`: the weight of each rollout term, `1/R` (0 for a row with no scored token).
    pub rollout: Vec<f32>,
    /// `1/(R·|o_i|)` at every scored token: the GRPO paper's per-rollout token mean, which a
    /// per-token KL of a rollout-level objective uses.
    pub seq_token: Vec<f32>,
}

/// Returns the aggregation weights of `aggregation` for the rows of `inputs`:
///
/// ```text
/// seq-mean    w_it = 1/R               token-mean  w_it = 1/Σ_i|o_i|
/// seq-token   w_it = 1/(R·|o_i|)       const-len   w_it = 1/(R·L)          v_i = 1/R
/// ```
pub fn aggregation_weights(aggregation: Aggregation, inputs: &LossInputs) -> AggregationWeights {
    let (rows, cols, n) = (inputs.rows, inputs.cols, inputs.norm);
    let lengths = inputs.lengths();
    let r = n.rollouts.max(1.0) as f32;
    let seq_token = |i: usize| {
        if lengths[i] > 0.0 {
            1.0 / (r * lengths[i])
        } else {
            0.0
        }
    };
    let token_weight = |i: usize| -> f32 {
        if lengths[i] == 0.0 {
            return 0.0;
        }
        match aggregation {
            Aggregation::SeqMean => 1.0 / r,
            Aggregation::TokenMean => 1.0 / n.tokens.max(1.0) as f32,
            Aggregation::SeqTokenMean => seq_token(i),
            Aggregation::ConstLen => 1.0 / (r * n.max_len.max(1.0) as f32),
        }
    };
    let expand = |f: &dyn Fn(usize) -> f32| -> Vec<f32> {
        (0..rows)
            .flat_map(|i| {
                let w = f(i);
                inputs.mask[i * cols..(i + 1) * cols]
                    .iter()
                    .map(move |m| m * w)
            })
            .collect()
    };
    let token = expand(&token_weight);
    let seq_token_w = expand(&seq_token);
    let rollout = (0..rows)
        .map(|i| if lengths[i] > 0.0 { 1.0 / r } else { 0.0 })
        .collect();
    AggregationWeights {
        lengths,
        token,
        rollout,
        seq_token: seq_token_w,
    }
}

/// Zeroes the negative advantages of rollouts that drifted too far from the rollout policy
/// (DeepSeek-V3.2, the table's "masking" row): `A_i ← 0` if `A_i < 0` and
/// `(S_i^old − S_i)/|o_i| > δ`. Returns the advantages and how many were zeroed.
pub fn off_policy_masking(
    delta: f64,
    seq_logp: &[f32],
    seq_old: &[f32],
    lengths: &[f32],
    advantages: &[f32],
) -> (Vec<f32>, usize) {
    let mut adv = advantages.to_vec();
    let mut masked = 0;
    for i in 0..adv.len() {
        let kl = (seq_old[i] - seq_logp[i]) / lengths[i].max(1.0);
        if adv[i] < 0.0 && f64::from(kl) > delta {
            adv[i] = 0.0;
            masked += 1;
        }
    }
    (adv, masked)
}

/// Per-rollout sums `S_i` and `S_i^old` over the completion tokens.
#[derive(Debug, Clone)]
pub struct SequenceTerms {
    /// `S_i`, `[R]`, with gradient.
    pub logp: Tensor<1>,
    /// `S_i^old`, `[R]`.
    pub old: Tensor<1>,
}

/// Masked per-token log-probabilities of the current and the rollout policy.
#[derive(Debug, Clone)]
pub struct TokenTerms {
    /// `log π_θ(o_it)`, `[R, T]`, zero where masked, with gradient.
    pub logp: Tensor<2>,
    /// `log π_old(o_it)`, `[R, T]`, zero where masked.
    pub old: Tensor<2>,
}

/// Returns `J` of a rollout-level ratio (the book's sequence ratio `ρ_i = exp(S_i − S_i^old)`
/// or GSPO's geometric `s_i = exp((S_i − S_i^old)/|o_i|)`), clipped by the config's rule and
/// weighted by `v_i`; adds the clip statistics to `stats`.
pub fn sequence_objective(
    config: &LossConfig,
    seq: SequenceTerms,
    advantages: &[f32],
    weights: &AggregationWeights,
    stats: &mut LossStats,
) -> Tensor<1> {
    let device = seq.logp.device();
    let rows = advantages.len();
    let t1 = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [rows]), &device);
    let (lo, hi) = (1.0 - config.eps_low, 1.0 + config.eps_high);
    let lengths = &weights.lengths;
    let log_ratio = seq.logp - seq.old;
    let log_ratio = match config.ratio {
        RatioLevel::Geometric => log_ratio / t1(lengths).clamp_min(1.0),
        _ => log_ratio,
    };
    let ratio = truncate(log_ratio.exp(), config.truncate);
    let ratios = host(ratio.clone());
    for i in 0..rows {
        if lengths[i] > 0.0 {
            stats.units += 1.0;
            stats.ratio_sum += f64::from(ratios[i]);
            stats.clipped += f64::from(u8::from(clip_active(
                config.clip,
                ratios[i].into(),
                advantages[i].into(),
                lo,
                hi,
            )));
        }
    }
    let j = clipped(config.clip, ratio, t1(advantages), lo, hi, None);
    (j * t1(&weights.rollout)).sum()
}

/// Returns `J` of a token-level objective: REINFORCE's `A_it log π_θ(o_it)` without a ratio,
/// else the token ratio `ρ_it` clipped by the config's rule; weighted by `w_it`. Adds the
/// clip statistics to `stats`.
pub fn token_objective(
    config: &LossConfig,
    tokens: TokenTerms,
    advantages: &[f32],
    inputs: &LossInputs,
    weights: &AggregationWeights,
    stats: &mut LossStats,
) -> Tensor<1> {
    let device = tokens.logp.device();
    let (rows, cols) = (inputs.rows, inputs.cols);
    let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);
    let (lo, hi) = (1.0 - config.eps_low, 1.0 + config.eps_high);
    let logp = tokens.logp;
    let adv_tok = match &inputs.token_advantages {
        Some(a) => t2(a),
        None => Tensor::<1>::from_data(TensorData::new(advantages.to_vec(), [rows]), &device)
            .unsqueeze_dim::<2>(1)
            .expand([rows, cols]), // [R, T]
    };
    let adv_at = |k: usize| match &inputs.token_advantages {
        Some(a) => a[k],
        None => advantages[k / cols],
    };
    let j = match config.ratio {
        RatioLevel::None => adv_tok * logp,
        _ => {
            let ratio = truncate((logp.clone() - tokens.old).exp(), config.truncate);
            let ratios = host(ratio.clone());
            for (k, &m) in inputs.mask.iter().enumerate() {
                if m > 0.0 {
                    stats.units += 1.0;
                    stats.ratio_sum += f64::from(ratios[k]);
                    stats.clipped += f64::from(u8::from(clip_active(
                        config.clip,
                        ratios[k].into(),
                        adv_at(k).into(),
                        lo,
                        hi,
                    )));
                }
            }
            clipped(config.clip, ratio, adv_tok, lo, hi, Some(logp))
        }
    };
    (j * t2(&weights.token)).sum()
}

/// What the KL estimators read: the masked per-token and per-rollout log-probabilities of
/// the current, rollout and reference policies.
#[derive(Debug, Clone)]
pub struct KlTerms {
    /// `log π_θ(o_it)`, `[R, T]`, zero where masked, with gradient.
    pub logp: Tensor<2>,
    /// `log π_old(o_it)`, `[R, T]`, zero where masked.
    pub old: Tensor<2>,
    /// `S_i`, `[R]`.
    pub seq_logp: Tensor<1>,
    /// `S_i^old`, `[R]`.
    pub seq_old: Tensor<1>,
    /// `log π_ref(o_it)`, `[R, T]`, zero where masked.
    pub reference: Tensor<2>,
}

/// Returns the KL estimate of `config.kl` (before `β`, the table's "KL" row): `k1` on sequence
/// sums weighted by `v_i`, or the per-token `k3` averaged like the objective's tokens (a
/// rollout-level objective gets the GRPO paper's per-rollout token mean).
pub fn kl_penalty(config: &LossConfig, terms: KlTerms, weights: &AggregationWeights) -> Tensor<1> {
    let device = terms.logp.device();
    let [rows, cols] = terms.logp.dims();
    let t1 = |v: &[f32]| Tensor::<1>::from_data(TensorData::new(v.to_vec(), [rows]), &device);
    let t2 = |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, cols]), &device);
    match config.kl {
        KlEstimator::K1Seq | KlEstimator::K1SeqIs => {
            let seq_ref = terms.reference.sum_dim(1).squeeze_dim::<1>(1);
            let diff = terms.seq_logp.clone() - seq_ref;
            let diff = match config.kl {
                KlEstimator::K1SeqIs => (terms.seq_logp - terms.seq_old).exp() * diff,
                _ => diff,
            };
            (diff * t1(&weights.rollout)).sum()
        }
        KlEstimator::K3 | KlEstimator::K3Is => {
            let x = terms.reference - terms.logp.clone();
            let d = x.clone().exp() - x - 1.0;
            let d = match config.kl {
                KlEstimator::K3Is => (terms.logp - terms.old).exp() * d,
                _ => d,
            };
            let w = if config.sequence_unit() {
                &weights.seq_token
            } else {
                &weights.token
            };
            (d * t2(w)).sum()
        }
    }
}

/// Caps the ratio at `cap` (no gradient above it, as `torch.clamp`).
fn truncate<const D: usize>(ratio: Tensor<D>, cap: Option<f64>) -> Tensor<D> {
    match cap {
        Some(c) => ratio.clamp_max(c),
        None => ratio,
    }
}

/// The clipped objective `f(ρ, A)` of `rule`, elementwise. `logp` is needed by CISPO only.
fn clipped<const D: usize>(
    rule: ClipRule,
    ratio: Tensor<D>,
    adv: Tensor<D>,
    lo: f64,
    hi: f64,
    logp: Option<Tensor<D>>,
) -> Tensor<D> {
    match rule {
        ClipRule::Ppo => {
            let unclipped = ratio.clone() * adv.clone();
            unclipped.min_pair(ratio.clamp(lo, hi) * adv)
        }
        ClipRule::Book => {
            let unclipped = ratio.clone() * adv.clone();
            let clip = ratio.clamp(lo, hi) * adv.clone();
            let negative = adv.lower_elem(0.0);
            let low = unclipped.clone().min_pair(clip.clone());
            low.mask_where(negative, unclipped.max_pair(clip))
        }
        ClipRule::Cispo => {
            let weight = ratio.clamp(lo, hi).detach();
            match logp {
                Some(logp) => weight * adv * logp,
                // A rollout-level ratio has no per-token log-probability: CISPO needs tokens.
                None => weight * adv,
            }
        }
    }
}

/// Whether the clip of `rule` changes the objective at ratio `r` and advantage `a`.
fn clip_active(rule: ClipRule, r: f64, a: f64, lo: f64, hi: f64) -> bool {
    match rule {
        ClipRule::Ppo => (a > 0.0 && r > hi) || (a < 0.0 && r < lo),
        ClipRule::Book => a != 0.0 && r > hi,
        ClipRule::Cispo => r > hi || r < lo,
    }
}

use crate::logprob::host_f32 as host;

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    /// Two rollouts of two token slots; rollout 1 has one scored token.
    ///
    /// ```text
    /// logp = [[-1.0, -2.0], [-0.5, (pad)]]     old = [[-1.2, -2.1], [-0.3, (pad)]]
    /// ref  = [[-1.1, -1.9], [-0.4, (pad)]]     A = [1.0, -1.0]
    /// ```
    fn inputs() -> (Vec<f32>, LossInputs) {
        let logp = vec![-1.0, -2.0, -0.5, 0.0];
        let inputs = LossInputs {
            rows: 2,
            cols: 2,
            old_logp: vec![-1.2, -2.1, -0.3, 0.0],
            ref_logp: Some(vec![-1.1, -1.9, -0.4, 0.0]),
            mask: vec![1.0, 1.0, 1.0, 0.0],
            advantages: vec![1.0, -1.0],
            token_advantages: None,
            norm: Normalizer {
                rollouts: 2.0,
                tokens: 3.0,
                max_len: 4.0,
            },
        };
        (logp, inputs)
    }

    fn run(config: LossConfig) -> LossStats {
        let (logp, inputs) = inputs();
        run_with(config, logp, &inputs)
    }

    fn run_with(config: LossConfig, logp: Vec<f32>, inputs: &LossInputs) -> LossStats {
        let logp = Tensor::<2>::from_data(TensorData::new(logp, [2, 2]), &Device::flex());
        grpo_loss(&config, logp, inputs).stats
    }

    /// Dr. GRPO's aggregation with the wide clip [0.8, 1.28].
    fn dr_grpo_wide() -> LossConfig {
        LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Ppo,
            eps_low: 0.2,
            eps_high: 0.28,
            aggregation: Aggregation::ConstLen,
            ..LossConfig::default()
        }
    }

    fn assert_close(got: f64, want: f64) {
        assert!((got - want).abs() < 1e-5, "got {got}, want {want}");
    }

    // Shared hand-computed values:
    //   S = [-3.0, -0.5], S_old = [-3.3, -0.3], S_ref = [-3.0, -0.4]
    //   sequence ratios ρ = [exp(0.3), exp(-0.2)] = [1.349859, 0.818731]
    //   token ratios    ρ_t = [exp(0.2), exp(0.1)], [exp(-0.2)] = [1.221403, 1.105171], [0.818731]
    const E03: f64 = 1.349_858_807_576_003;
    const EM02: f64 = 0.818_730_753_077_981_9;
    const E02: f64 = 1.221_402_758_160_170_3;
    const E01: f64 = 1.105_170_918_075_647_7;

    #[test]
    fn book_chapter_6_loss_is_minus_mean_advantage_times_sequence_logprob() {
        // −(1/2)(1·(−3.0) + (−1)·(−0.5)) = −(1/2)(−2.5) = 1.25
        let s = run(LossConfig::default());
        assert_close(s.loss, 1.25);
        assert_close(s.pg_loss, 1.25);
        assert_eq!(s.units, 0.0, "no ratio, nothing clipped");
    }

    #[test]
    fn book_loss_equals_the_6_grpo_presets_loss_and_gradient() {
        let (logp, inputs) = inputs();
        let config = crate::Preset::Book6.algorithm().loss;
        let device = Device::flex().autodiff();
        let leaf = || {
            Tensor::<2>::from_data(TensorData::new(logp.clone(), [2, 2]), &device).require_grad()
        };
        let (a, b) = (leaf(), leaf());
        let general = grpo_loss(&config, a.clone(), &inputs).loss;
        let plain = book_loss(b.clone(), &inputs.mask, &inputs.advantages);
        let value = |t: Tensor<1>| f64::from(t.into_scalar::<f32>());
        assert_close(value(plain.clone()), value(general.clone()));
        assert_close(value(plain.clone()), 1.25);
        let grad = |loss: Tensor<1>, x: &Tensor<2>| host(x.grad(&loss.backward()).unwrap());
        let (ga, gb) = (grad(general, &a), grad(plain, &b));
        for (x, y) in ga.iter().zip(&gb) {
            assert!((x - y).abs() < 1e-6, "{ga:?} vs {gb:?}");
        }
        // dL/dlogp_it = −A_i / G at scored tokens, 0 at the padding.
        assert_eq!(gb, vec![-0.5, -0.5, 0.5, 0.0]);
    }

    #[test]
    fn book_clip_caps_both_signs_above_and_never_below() {
        // ε = 0.2 both sides, book rule: A·min(ρ, 1.2) for both signs.
        // rollout 0: A=1, ρ=1.3499 → 1.2 (clipped); rollout 1: A=−1, ρ=0.8187 → −0.8187
        // (the PPO rule would give max(ρ, 0.8)·A = −0.8187 too; the lower clip 0.8 is not hit).
        let config = LossConfig {
            ratio: RatioLevel::Sequence,
            clip: ClipRule::Book,
            eps_low: 0.2,
            eps_high: 0.2,
            ..LossConfig::default()
        };
        let s = run(config);
        assert_close(s.pg_loss, -(1.2 - EM02) / 2.0);
        assert_eq!(s.clipped, 1.0);
        assert_close(s.ratio_mean(), (E03 + EM02) / 2.0);
        // With ε_low = 0.1 the PPO rule clips rollout 1 at 0.9; the book's does not.
        let narrow = LossConfig {
            eps_low: 0.1,
            ..config
        };
        assert_close(run(narrow).pg_loss, -(1.2 - EM02) / 2.0);
        let ppo = LossConfig {
            clip: ClipRule::Ppo,
            ..narrow
        };
        // PPO: rollout 1 gets min(ρA, clip(ρ)A) = min(−0.8187, −0.9) = −0.9.
        assert_close(run(ppo).pg_loss, -(1.2 - 0.9) / 2.0);
        assert_eq!(run(ppo).clipped, 2.0);
    }

    #[test]
    fn book_clip_on_a_negative_advantage_above_the_cap_uses_the_capped_ratio() {
        // Swap advantages: rollout 0 has A = −1 and ρ = 1.3499 > 1.2.
        // Book: A·min(ρ, 1.2) = −1.2; PPO: min(−1.3499, −1.2) = −1.3499 (unclipped).
        let (logp, mut inputs) = inputs();
        inputs.advantages = vec![-1.0, 0.0];
        let device = Device::flex();
        let logp = Tensor::<2>::from_data(TensorData::new(logp, [2, 2]), &device);
        let mut config = LossConfig {
            ratio: RatioLevel::Sequence,
            clip: ClipRule::Book,
            eps_low: 0.2,
            eps_high: 0.2,
            ..LossConfig::default()
        };
        let book = grpo_loss(&config, logp.clone(), &inputs).stats;
        assert_close(book.pg_loss, 1.2 / 2.0);
        config.clip = ClipRule::Ppo;
        let ppo = grpo_loss(&config, logp, &inputs).stats;
        assert_close(ppo.pg_loss, E03 / 2.0);
    }

    #[test]
    fn kl_k1_on_sequence_sums_matches_the_books_7_5() {
        // 6-grpo objective plus β · (1/2) Σ (S − S_ref) = β · (1/2)(0 + (−0.1)) = −0.05 β.
        let config = LossConfig {
            kl_coef: 0.5,
            ..LossConfig::default()
        };
        let s = run(config);
        assert_close(s.kl, -0.05);
        assert_close(s.loss, 1.25 + 0.5 * -0.05);
    }

    #[test]
    fn kl_k1_reweighted_multiplies_each_rollout_by_its_sequence_ratio() {
        // (1/2)(ρ_0 · 0 + ρ_1 · (−0.1)) = −0.05 · 0.818731
        let config = LossConfig {
            kl_coef: 1.0,
            kl: KlEstimator::K1SeqIs,
            ..LossConfig::default()
        };
        assert_close(run(config).kl, -0.05 * EM02);
    }

    #[test]
    fn kl_k3_is_the_per_token_estimator_under_the_objectives_aggregation() {
        // x = ref − logp = [-0.1, 0.1], [0.1]; k3(x) = e^x − x − 1
        let k3 = |x: f64| x.exp() - x - 1.0;
        let d = [k3(-0.1), k3(0.1), k3(0.1)];
        // Token mean over 3 tokens (DAPO-style aggregation).
        let config = LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Ppo,
            aggregation: Aggregation::TokenMean,
            kl_coef: 1.0,
            kl: KlEstimator::K3,
            ..LossConfig::default()
        };
        assert_close(run(config).kl, (d[0] + d[1] + d[2]) / 3.0);
        // Reweighted by the token ratio (DeepSeek-V3.2).
        let is = LossConfig {
            kl: KlEstimator::K3Is,
            ..config
        };
        assert_close(run(is).kl, (E02 * d[0] + E01 * d[1] + EM02 * d[2]) / 3.0);
        // A rollout-level objective averages per rollout first (GRPO paper).
        let seq = LossConfig {
            ratio: RatioLevel::Sequence,
            ..config
        };
        assert_close(run(seq).kl, ((d[0] + d[1]) / 2.0 + d[2]) / 2.0);
    }

    #[test]
    fn dapo_token_level_clip_higher_averages_over_all_tokens() {
        // ε_low 0.2, ε_high 0.28 → clip to [0.8, 1.28]. A=1 tokens: min(ρ, 1.28) = 1.221403, 1.105171.
        // A=−1 token: min(−0.818731, −0.818731) = −0.818731. Token mean over 3.
        let config = LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Ppo,
            eps_low: 0.2,
            eps_high: 0.28,
            aggregation: Aggregation::TokenMean,
            ..LossConfig::default()
        };
        let s = run(config);
        assert_close(s.pg_loss, -(E02 + E01 - EM02) / 3.0);
        assert_eq!(s.units, 3.0);
        assert_eq!(s.clipped, 0.0);
        // ε_high = 0.1 clips both A > 0 tokens (1.2214 and 1.1052 are above 1.1).
        let tight = LossConfig {
            eps_high: 0.1,
            ..config
        };
        let s = run(tight);
        assert_close(s.pg_loss, -(1.1 + 1.1 - EM02) / 3.0);
        assert_eq!(s.clipped, 2.0);
    }

    #[test]
    fn dr_grpo_divides_by_rollouts_times_the_constant_length() {
        // Same terms as DAPO with wide clips, divided by R · L = 2 · 4.
        assert_close(run(dr_grpo_wide()).pg_loss, -(E02 + E01 - EM02) / 8.0);
    }

    #[test]
    fn per_token_advantages_replace_the_rollouts_token_by_token() {
        // Dr. GRPO's terms with A_t = [[2, −1], [0.5, (pad)]]: PPO clip [0.8, 1.28] keeps
        // 2·1.2214, clips nothing for A<0 at ρ = 1.1052 (min(−1.1052, −1.1052)), 0.5·0.8187.
        let config = dr_grpo_wide();
        let (logp, mut inputs) = inputs();
        inputs.token_advantages = Some(vec![2.0, -1.0, 0.5, 7.0]);
        let s = run_with(config, logp.clone(), &inputs);
        assert_close(s.pg_loss, -(2.0 * E02 - E01 + 0.5 * EM02) / 8.0);
        // The rollout's own A_i on every token is the loss without token advantages.
        inputs.token_advantages = Some(vec![1.0, 1.0, -1.0, -1.0]);
        let same = run_with(config, logp, &inputs);
        assert_close(same.pg_loss, run(config).pg_loss);
    }

    #[test]
    fn grpo_paper_averages_tokens_within_each_rollout_first() {
        let config = LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Ppo,
            eps_low: 0.2,
            eps_high: 0.28,
            aggregation: Aggregation::SeqTokenMean,
            ..LossConfig::default()
        };
        assert_close(run(config).pg_loss, -((E02 + E01) / 2.0 - EM02) / 2.0);
    }

    #[test]
    fn gspo_uses_the_geometric_mean_ratio_per_rollout() {
        // s_0 = exp(0.3 / 2) = 1.161834, s_1 = exp(−0.2 / 1) = 0.818731.
        // GSPO's ε = (3e-4, 4e-4): s_0 clipped to 1.0004 (A>0), s_1 clipped to 0.9997 (A<0):
        // min(−0.818731, −0.9997) = −0.9997.
        let config = LossConfig {
            ratio: RatioLevel::Geometric,
            clip: ClipRule::Ppo,
            eps_low: 3e-4,
            eps_high: 4e-4,
            ..LossConfig::default()
        };
        let s = run(config);
        assert_close(s.pg_loss, -(1.0004 - 0.9997) / 2.0);
        assert_eq!(s.clipped, 2.0);
        assert_close(s.ratio_mean(), ((0.15f64).exp() + EM02) / 2.0);
    }

    /// CISPO as the tests use it: token ratios clipped to [0, 1.2], token-mean aggregation.
    fn cispo() -> LossConfig {
        LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Cispo,
            eps_low: 1.0,
            eps_high: 0.2,
            aggregation: Aggregation::TokenMean,
            ..LossConfig::default()
        }
    }

    #[test]
    fn cispo_weights_log_probs_by_the_stopped_clipped_ratio() {
        // J = (1/3) Σ sg(clip(ρ, 0, 1.2)) · A · logp
        //   = (1/3)[1.2·1·(−1) + 1.105171·1·(−2) + 0.818731·(−1)·(−0.5)]
        let config = cispo();
        let j = (-1.2 + E01 * -2.0 + EM02 * 0.5) / 3.0;
        assert_close(run(config).pg_loss, -j);
    }

    #[test]
    fn cispo_gradient_flows_through_log_probs_only() {
        // d(−J)/d logp_it = −sg(w_it) · A_i / 3, the ratio weight held constant.
        let device = Device::flex().autodiff();
        let (logp, inputs) = inputs();
        let x = Tensor::<2>::from_data(TensorData::new(logp, [2, 2]), &device).require_grad();
        let config = cispo();
        let out = grpo_loss(&config, x.clone(), &inputs);
        let g = host(x.grad(&out.loss.backward()).unwrap());
        let want = [-1.2 / 3.0, -E01 / 3.0, EM02 / 3.0, 0.0];
        for k in 0..4 {
            assert!(
                (f64::from(g[k]) - want[k]).abs() < 1e-6,
                "{g:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn truncation_caps_the_ratio_before_the_clip() {
        // Book rule, ε_high = 10 (inactive), truncation at 1.1: token ratios become
        // 1.1, 1.1 (capped), 0.818731. Token mean: (1.1 + 1.1 − 0.818731) / 3.
        let config = LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Book,
            eps_low: 0.2,
            eps_high: 10.0,
            truncate: Some(1.1),
            aggregation: Aggregation::TokenMean,
            ..LossConfig::default()
        };
        assert_close(run(config).pg_loss, -(1.1 + 1.1 - EM02) / 3.0);
    }

    #[test]
    fn off_policy_masking_zeroes_negative_advantages_that_drifted_too_far() {
        // Rollout 1: A = −1, (S_old − S)/|o| = (−0.3 + 0.5)/1 = 0.2 > δ = 0.1 → A ← 0.
        // Rollout 0 has A > 0 and is kept. Sequence ratio, book clip ε=10:
        // J = (1/2)(1 · min(1.3499, 11) + 0) = 0.674929
        let config = LossConfig {
            ratio: RatioLevel::Sequence,
            clip: ClipRule::Book,
            off_policy_delta: Some(0.1),
            ..LossConfig::default()
        };
        let s = run(config);
        assert_eq!(s.off_policy_masked, 1);
        assert_close(s.pg_loss, -E03 / 2.0);
        let loose = LossConfig {
            off_policy_delta: Some(0.25),
            ..config
        };
        let s = run(loose);
        assert_eq!(s.off_policy_masked, 0);
        assert_close(s.pg_loss, -(E03 - EM02) / 2.0);
    }

    #[test]
    fn a_ratio_of_one_gives_the_policy_gradient_of_its_aggregation() {
        // old = logp (one update per batch): the value is −mean-weighted(A), and the gradient
        // of a clipped token objective equals the token-level REINFORCE gradient.
        let device = Device::flex().autodiff();
        let (logp, mut inputs) = inputs();
        inputs.old_logp = logp.clone();
        let grad_of = |config: LossConfig| {
            let x = Tensor::<2>::from_data(TensorData::new(logp.clone(), [2, 2]), &device)
                .require_grad();
            let out = grpo_loss(&config, x.clone(), &inputs);
            let grads = out.loss.backward();
            let g = x.grad(&grads).unwrap();
            (out.stats, host(g))
        };
        let (s, g_clip) = grad_of(LossConfig {
            ratio: RatioLevel::Token,
            clip: ClipRule::Ppo,
            aggregation: Aggregation::TokenMean,
            ..LossConfig::default()
        });
        assert_close(s.pg_loss, -(1.0 + 1.0 - 1.0) / 3.0);
        let (_, g_pg) = grad_of(LossConfig {
            aggregation: Aggregation::TokenMean,
            ..LossConfig::default()
        });
        // d(−J)/d logp_it = −A_i / 3 on scored tokens, 0 on padding.
        let want = [-1.0 / 3.0, -1.0 / 3.0, 1.0 / 3.0, 0.0];
        for k in 0..4 {
            assert!((g_clip[k] - want[k]).abs() < 1e-6, "{g_clip:?}");
            assert!((g_pg[k] - want[k]).abs() < 1e-6, "{g_pg:?}");
        }
    }
}
