//! Leaderboards against references: Elo against the book's formula (a committed fixture made
//! by scripts/make_leaderboard_fixtures.py), Bradley–Terry against an independent Newton
//! solver and its own optimality condition, bootstrap intervals against their nominal coverage.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reasoning_eval::leaderboard::{
    EloConfig, FitConfig, Method, Rating, Vote, bootstrap, bradley_terry, elo, read_votes,
};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/elo_reference.json")).unwrap()
}

fn votes_of(v: &Value) -> Vec<Vote> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| Vote::new(p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect()
}

fn by_model(r: &[Rating]) -> BTreeMap<String, f64> {
    r.iter().map(|r| (r.model.clone(), r.rating)).collect()
}

/// The book's example votes, when `REASONING_ASSETS` points at the shared assets.
fn arena_votes() -> Option<Vec<Vote>> {
    let Some(dir) = std::env::var_os("REASONING_ASSETS") else {
        eprintln!("skipped: REASONING_ASSETS is not set (the book's arena votes)");
        return None;
    };
    Some(read_votes(&PathBuf::from(dir).join("datasets/arena_votes.json")).unwrap())
}

fn assert_ratings_close(ours: &BTreeMap<String, f64>, want: &BTreeMap<String, f64>, tol: f64) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (m, r) in ours {
        assert!((r - want[m]).abs() <= tol, "{m}: {r} vs {}", want[m]);
    }
}

#[test]
fn elo_equals_the_books_function() {
    let fx = fixture();
    for case in fx["random"].as_array().unwrap() {
        let config = EloConfig {
            k: case["k"].as_f64().unwrap(),
            initial: case["initial"].as_f64().unwrap(),
        };
        let ours = elo(&votes_of(&case["votes"]), &config);
        let want: BTreeMap<String, f64> = serde_json::from_value(case["ratings"].clone()).unwrap();
        assert_ratings_close(&by_model(&ours), &want, 1e-9);
        assert!(ours.windows(2).all(|w| w[0].rating >= w[1].rating));
    }
    if let Some(votes) = arena_votes() {
        let want: BTreeMap<String, f64> =
            serde_json::from_value(fx["arena_example"].clone()).unwrap();
        assert_ratings_close(&by_model(&elo(&votes, &EloConfig::default())), &want, 1e-9);
    }
}

/// Newton's method on the log-likelihood with the last model's θ fixed at 0: a different
/// algorithm from the crate's minorise–maximise iteration. Returns θ with mean 0, by model.
fn newton(votes: &[Vote]) -> BTreeMap<String, f64> {
    let mut names: Vec<String> = votes
        .iter()
        .flat_map(|v| [v.winner.clone(), v.loser.clone()])
        .collect();
    names.sort();
    names.dedup();
    let n = names.len();
    let id = |m: &str| names.iter().position(|x| x == m).unwrap();
    let pairs: Vec<(usize, usize)> = votes
        .iter()
        .map(|v| (id(&v.winner), id(&v.loser)))
        .collect();
    let mut theta = vec![0.0f64; n];
    for _ in 0..100 {
        let (mut g, mut h) = (vec![0.0; n - 1], vec![vec![0.0; n - 1]; n - 1]);
        for &(w, l) in &pairs {
            let p = 1.0 / (1.0 + (theta[l] - theta[w]).exp()); // P(w beats l)
            let q = 1.0 - p;
            for (i, s) in [(w, 1.0), (l, -1.0)] {
                if i < n - 1 {
                    g[i] += s * q;
                    for (j, t) in [(w, 1.0), (l, -1.0)] {
                        if j < n - 1 {
                            h[i][j] -= s * t * p * q;
                        }
                    }
                }
            }
        }
        // Solve h · step = g (Gaussian elimination), θ ← θ − step.
        let m = n - 1;
        let mut a: Vec<Vec<f64>> = (0..m)
            .map(|i| [h[i].clone(), vec![g[i]]].concat())
            .collect();
        for c in 0..m {
            let piv = (c..m)
                .max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs()))
                .unwrap();
            a.swap(c, piv);
            let pivot_row = a[c].clone();
            for (r, row) in a.iter_mut().enumerate() {
                if r != c {
                    let f = row[c] / pivot_row[c];
                    for (x, p) in row.iter_mut().zip(&pivot_row).skip(c) {
                        *x -= f * p;
                    }
                }
            }
        }
        for i in 0..m {
            theta[i] -= a[i][m] / a[i][i];
        }
    }
    let mean = theta.iter().sum::<f64>() / n as f64;
    names
        .into_iter()
        .zip(theta.iter().map(|t| t - mean))
        .collect()
}

/// θ back from the book's scale.
fn theta_of(r: &[Rating]) -> BTreeMap<String, f64> {
    let scale = 400.0 / std::f64::consts::LN_10;
    r.iter()
        .map(|r| (r.model.clone(), (r.rating - 1000.0) / scale))
        .collect()
}

#[test]
fn bradley_terry_is_the_maximum_likelihood_fit() {
    let mut sets: Vec<Vec<Vote>> = fixture()["random"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| votes_of(&c["votes"]))
        .collect();
    sets.extend(arena_votes());
    for votes in &sets {
        let fit = bradley_terry(votes, &FitConfig::default()).unwrap();
        let theta = theta_of(&fit);
        // Equal to the independent solver.
        assert_ratings_close(&theta, &newton(votes), 1e-6);
        // The gradient of the log-likelihood is zero: each model's expected wins are its wins.
        let mut grad: BTreeMap<&str, f64> = BTreeMap::new();
        for v in votes {
            let q = 1.0 / (1.0 + (theta[&v.winner] - theta[&v.loser]).exp());
            *grad.entry(&v.winner).or_default() += q;
            *grad.entry(&v.loser).or_default() -= q;
        }
        assert!(grad.values().all(|g| g.abs() < 1e-8), "{grad:?}");
        // The book's scale: mean 1000.
        let mean = fit.iter().map(|r| r.rating).sum::<f64>() / fit.len() as f64;
        assert!((mean - 1000.0).abs() < 1e-9);
    }
}

#[test]
fn bootstrap_intervals_cover_the_truth_at_the_nominal_rate() {
    // Four models 100 rating points apart; 400 votes between random pairs, the winner drawn
    // from the Bradley–Terry probabilities; 95% intervals from 200 resamples; 60 repetitions.
    let truth = [1150.0, 1050.0, 950.0, 850.0]; // mean 1000, as the fit reports
    let names = ["a", "b", "c", "d"];
    let scale = 400.0 / std::f64::consts::LN_10;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut covered, mut total) = (0, 0);
    for rep in 0..60 {
        let votes: Vec<Vote> = (0..400)
            .map(|_| {
                let i = rng.random_range(0..4);
                let j = (i + rng.random_range(1..4)) % 4;
                let p = 1.0 / (1.0 + ((truth[j] - truth[i]) / scale).exp());
                if rng.random::<f64>() < p {
                    Vote::new(names[i], names[j])
                } else {
                    Vote::new(names[j], names[i])
                }
            })
            .collect();
        let b = bootstrap(
            &votes,
            &Method::BradleyTerry(FitConfig::default()),
            200,
            rep,
        )
        .unwrap();
        for r in &b.ratings {
            let t = truth[names.iter().position(|n| *n == r.model).unwrap()];
            assert!(r.low <= r.rating && r.rating <= r.high, "{r:?}");
            covered += usize::from(r.low <= t && t <= r.high);
            total += 1;
        }
    }
    let coverage = covered as f64 / total as f64;
    assert!((0.89..=0.99).contains(&coverage), "coverage {coverage}");
}

#[test]
fn bootstrap_is_seeded() {
    let votes = votes_of(&fixture()["random"][0]["votes"]);
    let elo = Method::Elo(EloConfig::default());
    let a = bootstrap(&votes, &elo, 50, 1).unwrap();
    assert_eq!(a, bootstrap(&votes, &elo, 50, 1).unwrap());
    assert_ne!(a, bootstrap(&votes, &elo, 50, 2).unwrap());
}

#[test]
fn bad_vote_files_name_the_file_and_the_vote() {
    let dir = std::env::temp_dir().join(format!("reasoning-eval-votes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("votes.json");
    std::fs::write(&path, r#"[["a", "b"], ["a", 3]]"#).unwrap();
    let err = read_votes(&path).unwrap_err().to_string();
    assert!(
        err.contains("votes.json") && err.contains("vote 1"),
        "{err}"
    );
    std::fs::write(&path, "{").unwrap();
    assert!(
        read_votes(&path)
            .unwrap_err()
            .to_string()
            .contains("votes.json")
    );
    std::fs::remove_dir_all(dir).unwrap();
}
