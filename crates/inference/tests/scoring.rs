//! Log-probability scoring against a direct computation: a full forward pass and a
//! log-softmax in f64 on the host.

mod common;

use common::{assert_close, direct_logprobs, tiny_model};
use reasoning_inference::{
    avg_logprob_answer, score_continuations, score_continuations_batch, sequence_logprobs,
};

#[test]
fn sequence_logprobs_match_a_direct_log_softmax() {
    let model = tiny_model(21);
    let ids: Vec<u32> = vec![40, 41, 42, 100, 7, 7, 250, 3, 12];
    let got = sequence_logprobs(&model, &ids).unwrap();
    let want = direct_logprobs(&model, &ids);
    assert_eq!(got.len(), ids.len() - 1);
    for (t, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_close(*g as f64, *w, 1e-4, &format!("position {t}"));
    }
}

#[test]
fn batched_continuations_score_as_each_would_alone() {
    let model = tiny_model(22);
    let prompt: Vec<u32> = vec![70, 71, 72, 73];
    let continuations: Vec<Vec<u32>> = vec![
        vec![10, 20, 30, 40, 50, 60],
        vec![99],
        vec![],
        vec![5, 6, 7],
    ];
    let scores = score_continuations(&model, &prompt, &continuations).unwrap();
    for (i, (score, c)) in scores.iter().zip(&continuations).enumerate() {
        assert_eq!(score.logprobs.len(), c.len(), "continuation {i}");
        let full: Vec<u32> = prompt.iter().chain(c).copied().collect();
        let want = direct_logprobs(&model, &full);
        let want = &want[prompt.len() - 1..];
        for (t, (g, w)) in score.logprobs.iter().zip(want).enumerate() {
            assert_close(*g as f64, *w, 1e-4, &format!("continuation {i}, token {t}"));
        }
        let sum: f64 = want.iter().sum();
        assert_close(score.sum(), sum, 1e-3, &format!("continuation {i}, sum"));
        if !c.is_empty() {
            assert_close(
                score.mean().unwrap(),
                sum / c.len() as f64,
                1e-4,
                &format!("continuation {i}, mean"),
            );
        }
    }
    assert_eq!(scores[2].mean(), None);
}

#[test]
fn prompts_of_different_lengths_score_as_each_would_alone() {
    // Left padding of the shorter prompts must change nothing but rounding.
    let model = tiny_model(24);
    let items: Vec<(Vec<u32>, Vec<Vec<u32>>)> = vec![
        (
            vec![70, 71, 72, 73, 74, 75, 76],
            vec![vec![10, 20, 30], vec![99]],
        ),
        (vec![5], vec![vec![1, 2, 3, 4, 5], vec![], vec![8, 9]]),
        (vec![200, 201, 202], vec![]),
        (vec![40, 41], vec![vec![7]]),
    ];
    let batched = score_continuations_batch(&model, &items).unwrap();
    assert_eq!(batched.len(), items.len());
    for (i, ((prompt, continuations), got)) in items.iter().zip(&batched).enumerate() {
        assert_eq!(got.len(), continuations.len(), "prompt {i}");
        for (j, (score, c)) in got.iter().zip(continuations).enumerate() {
            assert_eq!(
                score.logprobs.len(),
                c.len(),
                "prompt {i}, continuation {j}"
            );
            let full: Vec<u32> = prompt.iter().chain(c).copied().collect();
            let want = direct_logprobs(&model, &full);
            for (t, (g, w)) in score
                .logprobs
                .iter()
                .zip(&want[prompt.len() - 1..])
                .enumerate()
            {
                assert_close(
                    *g as f64,
                    *w,
                    1e-4,
                    &format!("prompt {i}, continuation {j}, token {t}"),
                );
            }
        }
    }
    let err =
        score_continuations_batch(&model, &[(vec![1], vec![]), (vec![], vec![])]).unwrap_err();
    assert!(err.to_string().contains("prompt 1 is empty"), "{err}");
}

#[test]
fn scoring_refuses_ids_outside_the_vocabulary_and_overlong_inputs() {
    let model = tiny_model(23);
    let err = score_continuations(&model, &[1, 2], &[vec![3, 1000]]).unwrap_err();
    assert!(
        err.to_string()
            .contains("continuation 0 of prompt 0 holds token id 1000"),
        "{err}"
    );
    let err = score_continuations(&model, &[1; 1000], &[vec![3; 100]]).unwrap_err();
    assert!(err.to_string().contains("1100 tokens"), "{err}");
    let err = score_continuations(&model, &[], &[vec![3]]).unwrap_err();
    assert!(err.to_string().contains("empty"), "{err}");
}

#[test]
fn avg_logprob_answer_is_the_mean_over_answer_tokens() {
    let model = tiny_model(24);
    let (prompt, answer) = (vec![1u32, 2, 3], vec![4u32, 5, 6, 7]);
    let full: Vec<u32> = prompt.iter().chain(&answer).copied().collect();
    let want = direct_logprobs(&model, &full);
    let mean: f64 = want[prompt.len() - 1..].iter().sum::<f64>() / answer.len() as f64;
    let got = avg_logprob_answer(&model, &prompt, &answer)
        .unwrap()
        .unwrap();
    assert_close(got, mean, 1e-4, "mean log-prob");
    assert_eq!(avg_logprob_answer(&model, &prompt, &[]).unwrap(), None);
}
