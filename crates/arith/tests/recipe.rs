//! The tiny model's recipe: SFT targets and examples of the task, the phase-3 rewrite, the
//! tokenizer training and the drill sequences, on 300 generated problems.

use std::path::PathBuf;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use reasoning_arith::targets::{arithmetic_examples, arithmetic_target, drill_examples};
use reasoning_arith::task::{ArithRecord, SplitConfig, make_splits, records};
use reasoning_arith::tiny::{PolishConfig, build_tokenizer, phase3_examples};
use reasoning_distill::sft::{AnswerStyle, SftExample, build_example, turn_end_id};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("reasoning-arith-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn small_records() -> (Vec<ArithRecord>, Vec<ArithRecord>) {
    let config = SplitConfig {
        n_train: 300,
        n_val: 8,
        n_test: 8,
        ..SplitConfig::default()
    };
    let s = make_splits(&config).unwrap();
    (records(&s.train, "train"), records(&s.val, "val"))
}

#[test]
fn examples_use_the_chat_template_and_end_with_the_turn_end_token() {
    let dir = scratch("examples");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let eos = turn_end_id(&tok).unwrap();
    assert_eq!(tok.id_to_token(eos).as_deref(), Some("<|im_end|>"));
    let r = &train_r[0];
    for style in [AnswerStyle::Reasoning, AnswerStyle::Direct] {
        let target = arithmetic_target(r, style);
        let e = build_example(&tok, &r.problem, &target, style, eos).unwrap();
        let prompt = tok.decode(&e.ids[..e.prompt_len], false).unwrap();
        let answer = tok.decode(&e.ids[e.prompt_len..], false).unwrap();
        assert!(
            prompt.starts_with("<|im_start|>user\nYou are a helpful math assistant."),
            "{prompt}"
        );
        assert!(prompt.contains(&format!("Question:\n{}\n\nAnswer:<|im_end|>", r.problem)));
        match style {
            AnswerStyle::Reasoning => {
                assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
                assert_eq!(
                    answer,
                    format!(
                        "<think>\n{}\n</think>\n\n\\boxed{{{}}}<|im_end|>",
                        r.steps().join("\n"),
                        r.answer
                    )
                );
            }
            AnswerStyle::Direct => {
                assert!(
                    prompt.ends_with("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
                    "{prompt:?}"
                );
                assert_eq!(answer, format!("\\boxed{{{}}}<|im_end|>", r.answer));
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn phase_three_rewrites_the_drawn_share_of_reasoning_answers_with_an_empty_think_block() {
    let dir = scratch("phase3");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let examples = arithmetic_examples(&tok, &train_r, 0.8, &mut rng).unwrap();
    let decode = |e: &SftExample| {
        (
            tok.decode(&e.ids[..e.prompt_len], false).unwrap(),
            tok.decode(&e.ids[e.prompt_len..], false).unwrap(),
        )
    };
    let run = |fraction: f64, max_level: u8, seed: u64| {
        let mut polish = PolishConfig::habit();
        polish.empty_think_fraction = fraction;
        polish.max_level = max_level;
        phase3_examples(
            &tok,
            &train_r,
            &examples,
            &polish,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
        .unwrap()
    };
    // Fraction 0 keeps every example; max_level drops the harder problems.
    assert_eq!(run(0.0, 5, 1), examples);
    let easy = run(0.0, 2, 1);
    let want: Vec<SftExample> = train_r
        .iter()
        .zip(&examples)
        .filter(|(r, _)| r.level <= 2)
        .map(|(_, e)| e.clone())
        .collect();
    assert!(!want.is_empty() && want.len() < examples.len());
    assert_eq!(easy, want);
    // Fraction 1 rewrites every reasoning answer, keeps its prompt and leaves direct ones.
    let all = run(1.0, 5, 1);
    assert_eq!(all.len(), examples.len());
    for ((r, before), after) in train_r.iter().zip(&examples).zip(&all) {
        let (prompt, answer) = decode(before);
        if answer.starts_with("<think>") {
            assert_eq!(decode(after).0, prompt);
            assert_eq!(
                decode(after).1,
                format!("<think>\n\n</think>\n\n\\boxed{{{}}}<|im_end|>", r.answer)
            );
        } else {
            assert_eq!(after, before);
        }
    }
    // A quarter: seeded, and near a quarter of the reasoning answers.
    let quarter = run(0.25, 5, 1);
    assert_eq!(quarter, run(0.25, 5, 1));
    assert_ne!(quarter, run(0.25, 5, 2));
    let reasoning = examples
        .iter()
        .filter(|e| decode(e).1.starts_with("<think>\n"))
        .count();
    let skipped = quarter
        .iter()
        .filter(|e| decode(e).1.starts_with("<think>\n\n</think>"))
        .count();
    assert!(
        (skipped as f64 / reasoning as f64 - 0.25).abs() < 0.1,
        "{skipped} of {reasoning} reasoning answers skipped"
    );
    // A fraction outside [0, 1] is refused by name.
    let mut bad = PolishConfig::habit();
    bad.empty_think_fraction = 1.5;
    let err = phase3_examples(&tok, &train_r, &examples, &bad, &mut rng).unwrap_err();
    assert!(
        err.to_string().contains("empty_think_fraction 1.5"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn tokenizer_training_is_deterministic_and_splits_digits() {
    let dir = scratch("tok");
    let (train_r, _) = small_records();
    build_tokenizer(&dir.join("a"), &train_r, 320).unwrap();
    let tok = build_tokenizer(&dir.join("b"), &train_r, 320).unwrap();
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        let a = std::fs::read(dir.join("a").join(f)).unwrap();
        let b = std::fs::read(dir.join("b").join(f)).unwrap();
        assert!(a == b, "{f} differs between two trainings");
    }
    assert_eq!(tok.vocab_size(), 320);
    for (id, t) in [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<think>",
        "</think>",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(tok.token_to_id(t), Some(id as u32), "{t}");
    }
    let ids = tok.encode("123 + 45 = 168").unwrap();
    let pieces: Vec<String> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
    assert_eq!(
        pieces
            .iter()
            .filter(|p| p.chars().any(|c| c.is_ascii_digit()))
            .count(),
        8,
        "{pieces:?}"
    );
    assert_eq!(tok.decode(&ids, false).unwrap(), "123 + 45 = 168");
    // <think> survives skip_special (it is an added, non-special token); <|im_end|> does not.
    let ids = tok
        .encode("<think>\n1 + 1 = 2\n</think><|im_end|>")
        .unwrap();
    assert_eq!(
        tok.decode(&ids, true).unwrap(),
        "<think>\n1 + 1 = 2\n</think>"
    );
    assert!(tok.eos_token_ids().contains(&2));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn drill_sequences_pack_training_solution_lines_after_one_start_token() {
    let dir = scratch("drill");
    let (train_r, _) = small_records();
    let tok = build_tokenizer(&dir.join("tok"), &train_r, 300).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let seqs = drill_examples(&tok, &train_r, 5, 64, &mut rng).unwrap();
    assert_eq!(seqs.len(), 5);
    let all_steps: std::collections::HashSet<&str> =
        train_r.iter().flat_map(|r| r.steps()).collect();
    for s in &seqs {
        assert_eq!(s.prompt_len, 1);
        assert_eq!(s.ids[0], tok.token_to_id("<|endoftext|>").unwrap());
        assert!(
            s.ids.len() <= 64 && s.ids.len() > 40,
            "{} tokens",
            s.ids.len()
        );
        let text = tok.decode(&s.ids[1..], false).unwrap();
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            assert!(all_steps.contains(line), "{line:?} is not a training step");
        }
    }
    let err = drill_examples(&tok, &train_r, 1, 4, &mut rng)
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_tokens 4"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
