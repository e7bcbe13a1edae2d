//! Inference-time scaling: spend more compute per problem to answer better (book chapters 4
//! and 5).
//!
//! - [`greedy_batch`]: one greedy answer per problem, several problems per batch (chapter 3).
//! - [`self_consistency`]: N sampled answers, majority vote over their final answers
//!   (section 4.5); the N samples share one prefill and run as one batch.
//! - [`best_of_n`]: N sampled answers, keep the one a [`Scorer`] rates highest (section 5.2).
//! - [`self_refine`]: draft, critique, revise, K times; keep a revision when its score is not
//!   worse (section 5.3), with the book's prompts ([`critique_prompt`], [`refine_prompt`]).
//!
//! Every answer is read with the verifier's `extract_final_candidate` and its
//! `number_then_full` fallback, as the book does.

use std::ops::ControlFlow;

use rand_chacha::ChaCha8Rng;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::{Fallback, extract_final_candidate};
use serde::{Deserialize, Serialize};

use crate::error::{InferenceError, Result};
use crate::generate::{
    Control, Event, FinishReason, Generation, GenerationConfig, generate, generate_batch,
};
use crate::load::LoadedModel;
use crate::prompt::PromptBuilder;
use crate::score::{HeuristicWeights, heuristic_score, score_continuations};
use crate::vote::{
    Vote, VoteRule, break_ties, break_ties_by_best_member, majority_vote, weighted_vote,
};

/// One generated response with its text and extracted final answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The decoded text (the stop id left out).
    pub text: String,
    /// `extract_final_candidate(text)` with the book's default fallback.
    pub extracted: String,
    /// The generated ids and why they ended.
    pub generation: Generation,
}

impl Response {
    /// Decodes and reads a generation.
    pub fn read(lm: &LoadedModel, generation: Generation) -> Result<Self> {
        Self::decode(&lm.tokenizer, generation)
    }

    /// Decodes a generation with `tok` (the stop id left out, special tokens kept) and reads
    /// its final answer.
    pub fn decode(tok: &Tokenizer, generation: Generation) -> Result<Self> {
        let text = tok.decode(generation.content_ids(), false)?;
        let extracted = extract_final_candidate(&text, Fallback::NumberThenFullText);
        Ok(Self {
            text,
            extracted,
            generation,
        })
    }

    /// Number of generated ids.
    pub fn tokens(&self) -> usize {
        self.generation.ids.len()
    }
}

/// Greedy answers to several prompts in one left-padded batch (identical to answering them
/// one at a time; tested).
pub fn greedy_batch(
    lm: &LoadedModel,
    prompts: &[Vec<u32>],
    config: &GenerationConfig,
) -> Result<Vec<Response>> {
    sample_responses(lm, prompts, 1, config, &mut [])
}

/// Samples `samples_per_prompt` responses to each prompt in one batch (each prompt prefilled
/// once) and returns them prompt-major with their ids, text, final answer and finish reason:
/// the rollouts of self-consistency and GRPO. `rngs[p · samples_per_prompt + j]` drives sample
/// `j` of prompt `p`.
pub fn sample_responses(
    lm: &LoadedModel,
    prompts: &[Vec<u32>],
    samples_per_prompt: usize,
    config: &GenerationConfig,
    rngs: &mut [ChaCha8Rng],
) -> Result<Vec<Response>> {
    let out = generate_batch(&lm.model, prompts, samples_per_prompt, config, rngs, |_| {
        Control::Continue
    })?;
    out.generations
        .into_iter()
        .map(|g| Response::read(lm, g))
        .collect()
}

/// Settings of [`self_consistency`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfConsistencyConfig {
    /// Samples per problem (book: `num_samples`).
    pub num_samples: usize,
    /// Decoding, length and stop ids of every sample.
    pub generation: GenerationConfig,
    /// Stop once one answer holds a strict majority of `num_samples` (book: `early_stop`).
    pub early_stop: bool,
    /// Generate the samples as one batch with a shared prefill (else one after another, as
    /// the book does).
    pub batched: bool,
    /// How the answers pick the winner (the book: [`VoteRule::Majority`]).
    #[serde(default)]
    pub rule: VoteRule,
}

/// What [`self_consistency`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfConsistencyResult {
    /// The samples, in stream order; with early stop, unfinished ones end `Stopped` and do
    /// not vote.
    pub samples: Vec<Response>,
    /// Indices into `samples` of the samples that voted (the finished ones), ascending.
    pub voters: Vec<usize>,
    /// The vote over the voters' answers under the configured [`VoteRule`]; group members
    /// index into `voters`.
    pub vote: Vote,
    /// Each voter's confidence `exp(mean token log-prob)`, indexed like `voters`: filled for
    /// [`VoteRule::LogprobWeighted`], and for [`VoteRule::LogprobTieBreak`] only when the
    /// counts tie; empty otherwise.
    pub confidences: Vec<f64>,
}

impl SelfConsistencyResult {
    /// The answer the evaluation keeps: the majority, or on a tie the tied answer seen first
    /// (as the book's `self_consistency_math500.py`); empty when nothing was voted.
    pub fn answer(&self) -> &str {
        self.vote.answer_or_first().unwrap_or("")
    }

    /// The full text of the first sample whose answer won (the book records it).
    pub fn winning_text(&self) -> &str {
        self.vote
            .winning_group()
            .and_then(|g| g.members.first())
            .map_or("", |&i| self.samples[self.voters[i]].text.as_str())
    }

    /// Ids generated over all samples.
    pub fn tokens(&self) -> usize {
        self.samples.iter().map(Response::tokens).sum()
    }
}

/// Samples `num_samples` responses to `prompt` (sample `j` draws from `rngs[j]`) and votes
/// over their final answers (book: `self_consistency_vote`).
///
/// Batched with early stop, the vote is checked as samples finish, so it may stop on a
/// different subset than the book's sequential loop (which counts them in index order).
pub fn self_consistency(
    lm: &LoadedModel,
    prompt: &[u32],
    config: &SelfConsistencyConfig,
    rngs: &mut [ChaCha8Rng],
) -> Result<SelfConsistencyResult> {
    let mut results = self_consistency_batch(lm, &[prompt.to_vec()], config, rngs)?;
    Ok(results.remove(0))
}

/// [`self_consistency`] for several prompts at once: with `config.batched`, all
/// `prompts.len() × num_samples` samples run as one batch (each prompt prefilled once), and
/// early stop ends each prompt's samples separately. `rngs[p · num_samples + j]` is sample `j`
/// of prompt `p`.
pub fn self_consistency_batch(
    lm: &LoadedModel,
    prompts: &[Vec<u32>],
    config: &SelfConsistencyConfig,
    rngs: &mut [ChaCha8Rng],
) -> Result<Vec<SelfConsistencyResult>> {
    let n = check_samples(config.num_samples, prompts.len(), rngs.len())?;
    // Finished samples of each prompt, in finishing order: (sample, response).
    let mut finished: Vec<Vec<(usize, Response)>> = vec![Vec::new(); prompts.len()];
    let mut stopped: Vec<Vec<(usize, Response)>> = vec![Vec::new(); prompts.len()];
    let decided = |done: &[(usize, Response)]| {
        let answers: Vec<String> = done.iter().map(|(_, r)| r.extracted.clone()).collect();
        config.early_stop && majority_vote(&answers).is_decided(n)
    };
    if config.batched {
        let mut failure = None;
        let out = generate_batch(&lm.model, prompts, n, &config.generation, rngs, |event| {
            let Event::Finished { row, generation } = event else {
                return Control::Continue;
            };
            let (p, j) = (row / n, row % n);
            match Response::read(lm, generation.clone()) {
                Ok(r) => finished[p].push((j, r)),
                Err(e) => {
                    failure = Some(e);
                    return Control::StopAll;
                }
            }
            if decided(&finished[p]) {
                Control::StopPrompt
            } else {
                Control::Continue
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        for (row, generation) in out.generations.into_iter().enumerate() {
            if generation.finish == FinishReason::Stopped {
                stopped[row / n].push((row % n, Response::read(lm, generation)?));
            }
        }
    } else {
        for (p, prompt) in prompts.iter().enumerate() {
            for j in 0..n {
                let rng = &mut rngs[p * n + j];
                let (generation, _) =
                    generate(&lm.model, prompt, &config.generation, Some(rng), |_| {
                        ControlFlow::Continue(())
                    })?;
                finished[p].push((j, Response::read(lm, generation)?));
                if decided(&finished[p]) {
                    break;
                }
            }
        }
    }
    let mut results = Vec::with_capacity(prompts.len());
    for ((done, cut), prompt) in finished.into_iter().zip(stopped).zip(prompts) {
        // The final vote counts the finished samples in stream order, so ties resolve as in
        // the book's sequential loop whatever order the batch finished in.
        let mut all: Vec<(usize, Response)> = done.into_iter().chain(cut).collect();
        all.sort_by_key(|(j, _)| *j);
        let samples: Vec<Response> = all.into_iter().map(|(_, r)| r).collect();
        let voters: Vec<usize> = (0..samples.len())
            .filter(|&i| samples[i].generation.finish != FinishReason::Stopped)
            .collect();
        let answers: Vec<String> = voters
            .iter()
            .map(|&i| samples[i].extracted.clone())
            .collect();
        let mut vote = majority_vote(&answers);
        let tied = vote.winners.len() > 1;
        let mut confidences = Vec::new();
        if config.rule == VoteRule::LogprobWeighted || (config.rule.needs_confidence() && tied) {
            let voting: Vec<Response> = voters.iter().map(|&i| samples[i].clone()).collect();
            confidences = score_responses(lm, prompt, &voting, Scorer::AvgLogprob)?
                .into_iter()
                .map(f64::exp)
                .collect();
            vote = match config.rule {
                VoteRule::LogprobWeighted => weighted_vote(&answers, &confidences),
                _ => break_ties(vote, &confidences),
            };
        }
        if config.rule == VoteRule::HeuristicTieBreak && tied {
            let voting: Vec<Response> = voters.iter().map(|&i| samples[i].clone()).collect();
            let scores = score_responses(lm, prompt, &voting, Scorer::Heuristic)?;
            vote = break_ties_by_best_member(vote, &scores);
        }
        results.push(SelfConsistencyResult {
            samples,
            voters,
            vote,
            confidences,
        });
    }
    Ok(results)
}

/// Checks a sample count and the number of streams; returns the count.
fn check_samples(num_samples: usize, prompts: usize, streams: usize) -> Result<usize> {
    if num_samples == 0 {
        return Err(InferenceError::InvalidParameter {
            name: "num_samples",
            value: "0".into(),
            reason: "must be at least 1",
        });
    }
    if streams != prompts * num_samples {
        return Err(InferenceError::StreamCount {
            rows: prompts * num_samples,
            streams,
        });
    }
    Ok(num_samples)
}

/// How a response is rated (book chapter 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scorer {
    /// The book's `heuristic_score` (boxed answer, brevity).
    Heuristic,
    /// The sum of the response's token log-probabilities given the prompt.
    Logprob,
    /// Their mean (the book's `avg_logprob_answer`, which its scripts call `logprob`).
    AvgLogprob,
    /// The mean log-probability of the final answer alone, written as `"\n\boxed{answer}"`
    /// (the book's `logprob_extract` in `self_refinement_math500.py`): the last boxed answer,
    /// else the last number; -∞ when the response has neither.
    LogprobExtract,
}

impl Scorer {
    /// The scorer's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Scorer::Heuristic => "heuristic",
            Scorer::Logprob => "logprob",
            Scorer::AvgLogprob => "avg-logprob",
            Scorer::LogprobExtract => "logprob-extract",
        }
    }
}

/// Rates responses to `prompt` (their generated ids, stop id excluded) with `scorer`. Empty
/// responses get -∞ under the log-probability scorers.
pub fn score_responses(
    lm: &LoadedModel,
    prompt: &[u32],
    responses: &[Response],
    scorer: Scorer,
) -> Result<Vec<f64>> {
    match scorer {
        Scorer::Heuristic => {
            let w = HeuristicWeights::default();
            Ok(responses
                .iter()
                .map(|r| heuristic_score(&r.text, &w))
                .collect())
        }
        Scorer::Logprob | Scorer::AvgLogprob => {
            let ids: Vec<Vec<u32>> = responses
                .iter()
                .map(|r| r.generation.content_ids().to_vec())
                .collect();
            let scores = score_continuations(&lm.model, prompt, &ids)?;
            Ok(scores
                .iter()
                .map(|s| match scorer {
                    Scorer::Logprob if !s.logprobs.is_empty() => s.sum(),
                    Scorer::AvgLogprob => s.mean().unwrap_or(f64::NEG_INFINITY),
                    _ => f64::NEG_INFINITY,
                })
                .collect())
        }
        Scorer::LogprobExtract => {
            // The answer's ids, encoded on their own as the book does; `None` without one.
            let answers: Vec<Option<Vec<u32>>> = responses
                .iter()
                .map(|r| {
                    let candidate = [Fallback::None, Fallback::NumberOnly]
                        .into_iter()
                        .map(|f| extract_final_candidate(&r.text, f))
                        .find(|c| !c.trim().is_empty());
                    candidate
                        .map(|c| lm.tokenizer.encode(&format!("\n\\boxed{{{}}}", c.trim())))
                        .transpose()
                })
                .collect::<std::result::Result<_, _>>()?;
            let ids: Vec<Vec<u32>> = answers
                .iter()
                .map(|a| a.clone().unwrap_or_default())
                .collect();
            let scores = score_continuations(&lm.model, prompt, &ids)?;
            Ok(scores
                .iter()
                .zip(&answers)
                .map(|(s, a)| match a {
                    Some(_) => s.mean().unwrap_or(f64::NEG_INFINITY),
                    None => f64::NEG_INFINITY,
                })
                .collect())
        }
    }
}

/// What [`best_of_n`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestOfNResult {
    /// The samples, in stream order.
    pub samples: Vec<Response>,
    /// Their scores.
    pub scores: Vec<f64>,
    /// Index of the best (the first on ties, as the book's strict `>`).
    pub best: usize,
}

impl BestOfNResult {
    /// The best response.
    pub fn best(&self) -> &Response {
        &self.samples[self.best]
    }

    /// Ids generated over all samples.
    pub fn tokens(&self) -> usize {
        self.samples.iter().map(Response::tokens).sum()
    }
}

/// Samples `rngs.len()` responses to `prompt` in one batch with a shared prefill and keeps
/// the one `scorer` rates highest (book: best-of-N in `best_of_n_math500.py`).
pub fn best_of_n(
    lm: &LoadedModel,
    prompt: &[u32],
    generation: &GenerationConfig,
    scorer: Scorer,
    rngs: &mut [ChaCha8Rng],
) -> Result<BestOfNResult> {
    let n = rngs.len();
    let mut results = best_of_n_batch(lm, &[prompt.to_vec()], n, generation, scorer, rngs)?;
    Ok(results.remove(0))
}

/// [`best_of_n`] for several prompts in one batch: `rngs[p · num_samples + j]` is sample `j`
/// of prompt `p`.
pub fn best_of_n_batch(
    lm: &LoadedModel,
    prompts: &[Vec<u32>],
    num_samples: usize,
    generation: &GenerationConfig,
    scorer: Scorer,
    rngs: &mut [ChaCha8Rng],
) -> Result<Vec<BestOfNResult>> {
    let n = check_samples(num_samples, prompts.len(), rngs.len())?;
    let out = generate_batch(&lm.model, prompts, n, generation, rngs, |_| {
        Control::Continue
    })?;
    let mut generations = out.generations.into_iter();
    let mut results = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let samples = generations
            .by_ref()
            .take(n)
            .map(|g| Response::read(lm, g))
            .collect::<Result<Vec<_>>>()?;
        let scores = score_responses(lm, prompt, &samples, scorer)?;
        let mut best = 0;
        for (i, &s) in scores.iter().enumerate() {
            if s > scores[best] {
                best = i;
            }
        }
        results.push(BestOfNResult {
            samples,
            scores,
            best,
        });
    }
    Ok(results)
}

/// The book's critique prompt (`make_critique_prompt`): review `draft` as an answer to
/// `question`.
pub fn critique_prompt(question: &str, draft: &str) -> String {
    format!(
        "You are a meticulous reviewer. Identify logical errors, missing \
         steps, or arithmetic mistakes. If the answer seems correct, \
         say so briefly. Then propose a concise plan to fix issues.\n\n\
         Question:\n{question}\n\n\
         Draft answer:\n{draft}\n\n\
         Write a short critique and bullet-point fix plan \
         (under ~120 words).\n\
         Critique:"
    )
}

/// The book's refinement prompt (`make_refine_prompt`): revise `draft` using `critique`.
pub fn refine_prompt(question: &str, draft: &str, critique: &str) -> String {
    format!(
        "Revise the answer using the critique. Keep it concise and \
         end with a final boxed result: \\boxed{{ANSWER}}\n\n\
         Question:\n{question}\n\n\
         Previous answer:\n{draft}\n\n\
         Critique:\n{critique}\n\n\
         Revised answer:"
    )
}

/// Settings of [`self_refine`] (defaults of the book's `self_refinement_math500.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfRefineConfig {
    /// Critique-and-revise rounds (book: 2).
    pub iterations: usize,
    /// Decoding, length cap and stop ids of the draft and of every revision (book: 2048 new
    /// tokens, T = 0.7, top-p 0.9).
    pub response: GenerationConfig,
    /// Length cap of a critique (book script: 192).
    pub max_critique_tokens: usize,
    /// How drafts and revisions are compared; `None` always keeps the revision.
    pub scorer: Option<Scorer>,
}

/// One critique-and-revise round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefineStep {
    /// 1-based round.
    pub iteration: usize,
    /// The answer before this round.
    pub draft_full: String,
    /// Its final answer.
    pub draft_extracted: String,
    /// The critique.
    pub critique: String,
    /// The revision.
    pub revised_full: String,
    /// Its final answer.
    pub revised_extracted: String,
    /// Score of the answer before the round.
    pub score_before: f64,
    /// Score of the revision.
    pub score_after: f64,
    /// Whether the revision replaced the answer (`score_after >= score_before`).
    pub accepted: bool,
    /// Whether the round was abandoned because its prompt filled the model's context (no
    /// revision; refinement ends there).
    pub skipped: bool,
}

/// What [`self_refine`] found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfRefineResult {
    /// The answer kept at the end.
    pub final_full: String,
    /// Its final answer.
    pub final_extracted: String,
    /// Every round.
    pub steps: Vec<RefineStep>,
    /// Ids generated over the draft, critiques and revisions.
    pub tokens: usize,
}

/// Drafts an answer to `question`, then `iterations` times critiques it, revises it, and keeps
/// the revision when its score is not worse (book: `self_refinement_loop`). All prompts go
/// through `builder` (chat template and thinking switch); revisions are scored as answers to
/// the original prompt, as in the book. `rng` drives every sampled step in turn.
pub fn self_refine(
    lm: &LoadedModel,
    builder: &PromptBuilder,
    question: &str,
    config: &SelfRefineConfig,
    rng: &mut ChaCha8Rng,
) -> Result<SelfRefineResult> {
    let mut results =
        self_refine_batch(lm, builder, &[question], config, std::slice::from_mut(rng))?;
    Ok(results.remove(0))
}

/// [`self_refine`] for several questions at once: each stage (drafts, critiques, revisions)
/// runs as one batch over the questions still refining. Question `q` draws from `rngs[q]` in
/// the same order as alone, so its result equals [`self_refine`]'s.
pub fn self_refine_batch(
    lm: &LoadedModel,
    builder: &PromptBuilder,
    questions: &[&str],
    config: &SelfRefineConfig,
    rngs: &mut [ChaCha8Rng],
) -> Result<Vec<SelfRefineResult>> {
    if rngs.len() != questions.len() {
        return Err(InferenceError::StreamCount {
            rows: questions.len(),
            streams: rngs.len(),
        });
    }
    let context = lm.model.config().max_position_embeddings;
    let critique_cfg = GenerationConfig {
        max_new_tokens: config.max_critique_tokens,
        ..config.response.clone()
    };
    let prompts = questions
        .iter()
        .map(|q| builder.problem_ids(&lm.tokenizer, q))
        .collect::<Result<Vec<_>>>()?;
    let mut tokens = vec![0usize; questions.len()];
    // Generates one response per listed question (each from its own stream), as one batch;
    // `None` for a question whose prompt leaves no room in the context.
    let mut run = |who: &[usize],
                   ids: Vec<Vec<u32>>,
                   cfg: &GenerationConfig,
                   rngs: &mut [ChaCha8Rng]|
     -> Result<Vec<Option<Response>>> {
        let fits: Vec<usize> = (0..who.len()).filter(|&i| ids[i].len() < context).collect();
        let batch: Vec<Vec<u32>> = fits.iter().map(|&i| ids[i].clone()).collect();
        let mut streams: Vec<ChaCha8Rng> = fits.iter().map(|&i| rngs[who[i]].clone()).collect();
        let out = generate_batch(&lm.model, &batch, 1, cfg, &mut streams, |_| {
            Control::Continue
        })?;
        let mut responses: Vec<Option<Response>> = vec![None; who.len()];
        for ((&i, generation), stream) in fits.iter().zip(out.generations).zip(streams) {
            rngs[who[i]] = stream;
            tokens[who[i]] += generation.ids.len();
            responses[i] = Some(Response::read(lm, generation)?);
        }
        Ok(responses)
    };
    let score = |q: usize, r: &Response| -> Result<f64> {
        match config.scorer {
            None => Ok(0.0),
            Some(s) => Ok(score_responses(lm, &prompts[q], std::slice::from_ref(r), s)?[0]),
        }
    };

    let all: Vec<usize> = (0..questions.len()).collect();
    let drafts = run(&all, prompts.clone(), &config.response, rngs)?;
    let mut current = Vec::with_capacity(questions.len());
    for (q, draft) in drafts.into_iter().enumerate() {
        let draft = draft.ok_or(InferenceError::PromptTooLong {
            index: q,
            tokens: prompts[q].len(),
            context,
        })?;
        let s = score(q, &draft)?;
        current.push((draft, s));
    }
    let mut steps: Vec<Vec<RefineStep>> = vec![Vec::new(); questions.len()];
    let mut active = all;
    for it in 0..config.iterations {
        if active.is_empty() {
            break;
        }
        let critique_ids = active
            .iter()
            .map(|&q| {
                builder.encode(
                    &lm.tokenizer,
                    &critique_prompt(questions[q], &current[q].0.text),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let critiques = run(&active, critique_ids, &critique_cfg, rngs)?;
        // Revise where a critique was made; a prompt that fills the model's context ends that
        // question's refinement (the round is recorded as skipped, the answer stays).
        let revising: Vec<usize> = (0..active.len())
            .filter(|&i| critiques[i].is_some())
            .collect();
        let refine_ids = revising
            .iter()
            .map(|&i| {
                let q = active[i];
                let critique = critiques[i].as_ref().map_or("", |c| c.text.as_str());
                builder.encode(
                    &lm.tokenizer,
                    &refine_prompt(questions[q], &current[q].0.text, critique),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let who: Vec<usize> = revising.iter().map(|&i| active[i]).collect();
        let mut revisions = run(&who, refine_ids, &config.response, rngs)?.into_iter();
        let mut still = Vec::with_capacity(active.len());
        for (i, &q) in active.iter().enumerate() {
            let revised = if critiques[i].is_some() {
                revisions.next().flatten()
            } else {
                None
            };
            let critique = critiques[i]
                .as_ref()
                .map(|c| c.text.clone())
                .unwrap_or_default();
            let (draft, score_before) = &current[q];
            let Some(revised) = revised else {
                steps[q].push(RefineStep {
                    iteration: it + 1,
                    draft_full: draft.text.clone(),
                    draft_extracted: draft.extracted.clone(),
                    critique,
                    revised_full: String::new(),
                    revised_extracted: String::new(),
                    score_before: *score_before,
                    score_after: f64::NEG_INFINITY,
                    accepted: false,
                    skipped: true,
                });
                continue;
            };
            let revised_score = score(q, &revised)?;
            let accepted = revised_score >= *score_before;
            steps[q].push(RefineStep {
                iteration: it + 1,
                draft_full: draft.text.clone(),
                draft_extracted: draft.extracted.clone(),
                critique,
                revised_full: revised.text.clone(),
                revised_extracted: revised.extracted.clone(),
                score_before: *score_before,
                score_after: revised_score,
                accepted,
                skipped: false,
            });
            if accepted {
                current[q] = (revised, revised_score);
            }
            still.push(q);
        }
        active = still;
    }
    Ok(current
        .into_iter()
        .zip(steps)
        .zip(tokens)
        .map(|(((answer, _), steps), tokens)| SelfRefineResult {
            final_full: answer.text,
            final_extracted: answer.extracted,
            steps,
            tokens,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn critique_and_refine_prompts_match_the_book_text() {
        let c = critique_prompt("What is 2+2?", "5");
        assert!(c.starts_with("You are a meticulous reviewer. Identify logical errors, missing steps, or arithmetic mistakes. If the answer seems correct, say so briefly. Then propose a concise plan to fix issues.\n\nQuestion:\nWhat is 2+2?\n\nDraft answer:\n5\n\n"));
        assert!(c.ends_with(
            "Write a short critique and bullet-point fix plan (under ~120 words).\nCritique:"
        ));
        let r = refine_prompt("Q", "D", "C");
        assert_eq!(
            r,
            "Revise the answer using the critique. Keep it concise and end with a final boxed result: \\boxed{ANSWER}\n\nQuestion:\nQ\n\nPrevious answer:\nD\n\nCritique:\nC\n\nRevised answer:"
        );
    }

    #[test]
    fn scorer_names_are_the_command_line_names() {
        assert_eq!(Scorer::AvgLogprob.name(), "avg-logprob");
        assert_eq!(
            serde_json::to_string(&Scorer::AvgLogprob).unwrap(),
            "\"avg-logprob\""
        );
    }
}
