//! Leaderboards from pairwise votes: Elo (the book's), Bradley–Terry (maximum likelihood) and
//! bootstrap intervals. See the crate documentation for the equations.

use std::path::{Path, PathBuf};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What can go wrong reading votes or fitting a leaderboard.
#[derive(Debug, thiserror::Error)]
pub enum LeaderboardError {
    /// The votes file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The votes file is not a JSON array of `[winner, loser]` pairs.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the vote's index where there is one.
        message: String,
    },
    /// There are no votes.
    #[error("no votes to rank")]
    NoVotes,
    /// A vote names the same model as winner and loser.
    #[error("vote {index} has {model:?} as both winner and loser")]
    SelfVote {
        /// The vote's index (from 0).
        index: usize,
        /// The model.
        model: String,
    },
    /// The Bradley–Terry likelihood has no maximum at finite ratings.
    #[error("the Bradley-Terry fit has no finite maximum: {0}")]
    NoMaximum(String),
    /// The iteration did not reach the tolerance.
    #[error("the Bradley-Terry fit did not converge in {0} iterations")]
    NotConverged(usize),
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Config(String),
}

/// One vote: `winner` was preferred to `loser`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(String, String)", into = "(String, String)")]
pub struct Vote {
    /// The preferred model.
    pub winner: String,
    /// The other model.
    pub loser: String,
}

impl Vote {
    /// A vote for `winner` over `loser`.
    pub fn new(winner: impl Into<String>, loser: impl Into<String>) -> Self {
        Self {
            winner: winner.into(),
            loser: loser.into(),
        }
    }
}

impl From<(String, String)> for Vote {
    fn from((winner, loser): (String, String)) -> Self {
        Self { winner, loser }
    }
}

impl From<Vote> for (String, String) {
    fn from(v: Vote) -> Self {
        (v.winner, v.loser)
    }
}

/// Reads votes from a JSON array of `[winner, loser]` pairs (the book's `votes.json` layout).
///
/// # Errors
/// [`LeaderboardError::Io`] or [`LeaderboardError::Parse`] naming the file and, for a bad
/// vote, its index.
pub fn read_votes(path: &Path) -> Result<Vec<Vote>, LeaderboardError> {
    let text = std::fs::read_to_string(path).map_err(|source| LeaderboardError::Io {
        path: path.into(),
        source,
    })?;
    let parse = |message: String| LeaderboardError::Parse {
        path: path.into(),
        message,
    };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?;
    let items = value
        .as_array()
        .ok_or_else(|| parse("expected a JSON array of [winner, loser] pairs".into()))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_array().map(|a| a.as_slice()) {
            Some([serde_json::Value::String(w), serde_json::Value::String(l)]) => {
                Ok(Vote::new(w.as_str(), l.as_str()))
            }
            _ => Err(parse(format!(
                "vote {i} is {item}, expected [winner, loser] (two strings)"
            ))),
        })
        .collect()
}

/// A model and its rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    /// The model's name.
    pub model: String,
    /// Its rating (Elo scale: 400 points is a factor of 10 in the odds).
    pub rating: f64,
}

/// Settings of [`elo`] (the book's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EloConfig {
    /// How far one vote moves a rating at most (`k_factor`, 32).
    pub k: f64,
    /// Every model's starting rating (`initial_rating`, 1000).
    pub initial: f64,
}

impl Default for EloConfig {
    fn default() -> Self {
        Self {
            k: 32.0,
            initial: 1000.0,
        }
    }
}

/// Settings of [`bradley_terry`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// Stop when no strength `θ` moves by more than this in one iteration.
    pub tolerance: f64,
    /// Give up after this many iterations.
    pub max_iterations: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            tolerance: 1e-12,
            max_iterations: 1_000_000,
        }
    }
}

/// Votes as indices into a list of model names.
struct Indexed {
    models: Vec<String>,
    pairs: Vec<(usize, usize)>,
}

/// Indexes `votes`; models are numbered in order of first appearance (winner before loser).
fn index(votes: &[Vote]) -> Result<Indexed, LeaderboardError> {
    if votes.is_empty() {
        return Err(LeaderboardError::NoVotes);
    }
    for (i, v) in votes.iter().enumerate() {
        if v.winner == v.loser {
            return Err(LeaderboardError::SelfVote {
                index: i,
                model: v.winner.clone(),
            });
        }
    }
    let Indexed { models, pairs } = index_lenient(votes);
    Ok(Indexed { models, pairs })
}

/// Elo ratings from replaying `votes` in order (the book's `elo_ratings`), best first (ties
/// in order of first appearance, as Python's stable `sorted` leaves them).
pub fn elo(votes: &[Vote], config: &EloConfig) -> Vec<Rating> {
    let ix = index_lenient(votes);
    ranked(&ix.models, &elo_indexed(ix.models.len(), &ix.pairs, config))
}

/// Votes as indices, models in order of first appearance, without [`index`]'s checks (Elo is
/// defined for no votes and for a self-vote, which moves nothing).
fn index_lenient(votes: &[Vote]) -> Indexed {
    let mut models: Vec<String> = Vec::new();
    let mut find = |name: &str| match models.iter().position(|m| m == name) {
        Some(i) => i,
        None => {
            models.push(name.to_string());
            models.len() - 1
        }
    };
    let pairs = votes
        .iter()
        .map(|v| (find(&v.winner), find(&v.loser)))
        .collect();
    Indexed { models, pairs }
}

fn elo_indexed(n: usize, pairs: &[(usize, usize)], config: &EloConfig) -> Vec<f64> {
    let mut r = vec![config.initial; n];
    for &(w, l) in pairs {
        let expected = 1.0 / (1.0 + 10f64.powf((r[l] - r[w]) / 400.0));
        r[w] += config.k * (1.0 - expected);
        r[l] += config.k * (0.0 - (1.0 - expected));
    }
    r
}

/// The Bradley–Terry maximum-likelihood ratings of `votes` on the book's scale
/// (`θ · 400 / ln 10`, mean 1000), best first (ties by name).
///
/// # Errors
/// [`LeaderboardError::NoMaximum`] when some models never beat (or never lost to) the rest,
/// [`LeaderboardError::NotConverged`], [`LeaderboardError::NoVotes`],
/// [`LeaderboardError::SelfVote`].
pub fn bradley_terry(votes: &[Vote], config: &FitConfig) -> Result<Vec<Rating>, LeaderboardError> {
    let ix = index(votes)?;
    let theta = bt_indexed(&ix.models, &ix.pairs, config)?;
    Ok(ranked(&ix.models, &elo_scale(&theta)))
}

/// Strengths `θ` (mean 0) maximising the Bradley–Terry likelihood, by minorise–maximise.
fn bt_indexed(
    models: &[String],
    pairs: &[(usize, usize)],
    config: &FitConfig,
) -> Result<Vec<f64>, LeaderboardError> {
    let n = models.len();
    if config.tolerance.is_nan() || config.tolerance <= 0.0 {
        return Err(LeaderboardError::Config(format!(
            "tolerance must be positive, got {}",
            config.tolerance
        )));
    }
    let mut wins = vec![0.0f64; n];
    let mut games = vec![vec![0.0f64; n]; n];
    let mut beat = vec![vec![false; n]; n];
    for &(w, l) in pairs {
        wins[w] += 1.0;
        games[w][l] += 1.0;
        games[l][w] += 1.0;
        beat[w][l] = true;
    }
    check_connected(models, &beat)?;
    let mut theta = vec![0.0f64; n];
    for _ in 0..config.max_iterations {
        let p: Vec<f64> = theta.iter().map(|t| t.exp()).collect();
        let mut next: Vec<f64> = (0..n)
            .map(|i| {
                let denom: f64 = (0..n)
                    .filter(|&j| j != i && games[i][j] > 0.0)
                    .map(|j| games[i][j] / (p[i] + p[j]))
                    .sum();
                (wins[i] / denom).ln()
            })
            .collect();
        let mean = next.iter().sum::<f64>() / n as f64;
        next.iter_mut().for_each(|t| *t -= mean);
        let moved = next
            .iter()
            .zip(&theta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        theta = next;
        if moved <= config.tolerance {
            return Ok(theta);
        }
    }
    Err(LeaderboardError::NotConverged(config.max_iterations))
}

/// The maximum exists and is unique iff every model can reach every other along "beat" edges
/// (Zermelo; Hunter 2004, assumption 1): otherwise some group of models never lost to (or
/// never beat) the rest and its ratings run off to infinity.
fn check_connected(models: &[String], beat: &[Vec<bool>]) -> Result<(), LeaderboardError> {
    let n = models.len();
    if n < 2 {
        return Err(LeaderboardError::NoMaximum(
            "a leaderboard needs at least two models".into(),
        ));
    }
    let reach = |forward: bool| {
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for j in 0..n {
                let edge = if forward { beat[i][j] } else { beat[j][i] };
                if edge && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen
    };
    for (forward, what) in [(true, "never lost to"), (false, "never beat")] {
        let seen = reach(forward);
        if seen.contains(&false) {
            let (inside, outside): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| seen[i]);
            let names = |ids: &[usize]| {
                ids.iter()
                    .map(|&i| models[i].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            // Forward: `outside` was never beaten by `inside`, i.e. `outside` never lost to it.
            return Err(LeaderboardError::NoMaximum(format!(
                "{{{}}} {what} {{{}}}",
                names(&outside),
                names(&inside)
            )));
        }
    }
    Ok(())
}

/// `θ` on the book's Elo-like scale: `θ · 400 / ln 10`, shifted to mean 1000.
fn elo_scale(theta: &[f64]) -> Vec<f64> {
    let scale = 400.0 / std::f64::consts::LN_10;
    let r: Vec<f64> = theta.iter().map(|t| t * scale).collect();
    let mean = r.iter().sum::<f64>() / r.len() as f64;
    r.iter().map(|x| x - mean + 1000.0).collect()
}

/// Ratings best first; ties keep the models' order.
fn ranked(models: &[String], ratings: &[f64]) -> Vec<Rating> {
    let mut out: Vec<Rating> = models
        .iter()
        .zip(ratings)
        .map(|(m, &r)| Rating {
            model: m.clone(),
            rating: r,
        })
        .collect();
    out.sort_by(|a, b| b.rating.total_cmp(&a.rating));
    out
}

/// Which leaderboard to compute.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// [`elo`].
    Elo(EloConfig),
    /// [`bradley_terry`].
    BradleyTerry(FitConfig),
}

/// A rating with its bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatingInterval {
    /// The model's name.
    pub model: String,
    /// The rating from all votes.
    pub rating: f64,
    /// 2.5th percentile of the bootstrap ratings.
    pub low: f64,
    /// 97.5th percentile of the bootstrap ratings.
    pub high: f64,
}

/// What [`bootstrap`] returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Ratings from all votes with their 95% intervals, best first.
    pub ratings: Vec<RatingInterval>,
    /// Resamples used.
    pub samples: usize,
    /// Resamples dropped because the fit had no finite maximum or missed a model.
    pub dropped: usize,
}

/// Ratings with 95% percentile-bootstrap intervals: `samples` times, draws as many votes as
/// there are with replacement (uniformly, from a ChaCha8 stream seeded with `seed`, kept in
/// the order drawn) and recomputes the leaderboard; the interval is the 2.5th to 97.5th
/// percentile (linear interpolation, numpy's default) of each model's ratings. Resamples
/// whose Bradley–Terry fit has no finite maximum, or that miss a model, are dropped and
/// counted.
///
/// # Errors
/// As [`bradley_terry`] for the fit on all votes; [`LeaderboardError::Config`] when
/// `samples` is 0 or every resample was dropped.
pub fn bootstrap(
    votes: &[Vote],
    method: &Method,
    samples: usize,
    seed: u64,
) -> Result<Bootstrap, LeaderboardError> {
    if samples == 0 {
        return Err(LeaderboardError::Config(
            "bootstrap needs at least one sample".into(),
        ));
    }
    let ix = index(votes)?;
    let n = ix.models.len();
    let fit = |pairs: &[(usize, usize)]| -> Result<Vec<f64>, LeaderboardError> {
        match method {
            Method::Elo(c) => Ok(elo_indexed(n, pairs, c)),
            Method::BradleyTerry(c) => Ok(elo_scale(&bt_indexed(&ix.models, pairs, c)?)),
        }
    };
    let full = fit(&ix.pairs)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut per_model: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); n];
    let mut dropped = 0;
    let mut resample = Vec::with_capacity(ix.pairs.len());
    for _ in 0..samples {
        resample.clear();
        resample.extend((0..ix.pairs.len()).map(|_| ix.pairs[rng.random_range(0..ix.pairs.len())]));
        let mut present = vec![false; n];
        for &(w, l) in &resample {
            present[w] = true;
            present[l] = true;
        }
        if present.contains(&false) {
            dropped += 1;
            continue;
        }
        match fit(&resample) {
            Ok(r) => r.iter().zip(&mut per_model).for_each(|(x, v)| v.push(*x)),
            Err(LeaderboardError::NoMaximum(_)) => dropped += 1,
            Err(e) => return Err(e),
        }
    }
    if dropped == samples {
        return Err(LeaderboardError::Config(format!(
            "all {samples} bootstrap resamples were dropped (no finite fit or a model missing)"
        )));
    }
    let mut ratings: Vec<RatingInterval> = (0..n)
        .map(|i| {
            let v = &mut per_model[i];
            v.sort_by(f64::total_cmp);
            RatingInterval {
                model: ix.models[i].clone(),
                rating: full[i],
                low: percentile(v, 0.025),
                high: percentile(v, 0.975),
            }
        })
        .collect();
    ratings.sort_by(|a, b| b.rating.total_cmp(&a.rating));
    Ok(Bootstrap {
        ratings,
        samples: samples - dropped,
        dropped,
    })
}

/// The `q` quantile of sorted, non-empty `v`, interpolating linearly between neighbours.
fn percentile(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let (lo, frac) = (pos.floor() as usize, pos - pos.floor());
    if lo + 1 < v.len() {
        v[lo] + frac * (v[lo + 1] - v[lo])
    } else {
        v[lo]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 0.5), 3.0);
        assert!((percentile(&v, 0.025) - 1.1).abs() < 1e-12);
        assert!((percentile(&v, 0.975) - 4.9).abs() < 1e-12);
    }

    #[test]
    fn a_model_that_never_lost_has_no_finite_rating() {
        let votes = [
            Vote::new("a", "b"),
            Vote::new("a", "c"),
            Vote::new("b", "c"),
            Vote::new("c", "b"),
        ];
        let err = bradley_terry(&votes, &FitConfig::default()).unwrap_err();
        assert!(err.to_string().contains("{b, c} never beat {a}"), "{err}");
        let votes = [
            Vote::new("a", "b"),
            Vote::new("b", "a"),
            Vote::new("a", "c"),
            Vote::new("b", "c"),
        ];
        let err = bradley_terry(&votes, &FitConfig::default()).unwrap_err();
        assert!(err.to_string().contains("{c} never beat {a, b}"), "{err}");
        let votes = [
            Vote::new("a", "b"),
            Vote::new("b", "a"),
            Vote::new("c", "a"),
            Vote::new("c", "b"),
        ];
        let err = bradley_terry(&votes, &FitConfig::default()).unwrap_err();
        assert!(
            err.to_string().contains("{c} never lost to {a, b}"),
            "{err}"
        );
    }

    #[test]
    fn self_votes_and_empty_input_are_refused() {
        assert!(matches!(
            bradley_terry(&[Vote::new("a", "a")], &FitConfig::default()),
            Err(LeaderboardError::SelfVote { index: 0, .. })
        ));
        assert!(matches!(
            bradley_terry(&[], &FitConfig::default()),
            Err(LeaderboardError::NoVotes)
        ));
        assert!(elo(&[], &EloConfig::default()).is_empty());
    }
}
