//! Chapter-8 distillation data: the book's record format, examples and loss masking, the
//! length filter, the seeded split, and teacher trace generation with its resume.

mod common;

use std::cell::Cell;
use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor};
use reasoning_distill::data::{
    DistillRecord, TargetFormat, build_examples, filter_by_max_len, format_target, length_stats,
    load_distill_records, split_thinking, split_train_val,
};
use reasoning_distill::sft::{SftExample, collate, turn_end_id};
use reasoning_distill::teacher::{
    PROGRESS_FILE, SampledAnswer, SampledBatch, TRACES_FILE, TeacherConfig, TraceLog, TraceSummary,
    generate_traces, model_sampler,
};
use reasoning_distill::{DistillError, teacher};
use reasoning_inference::{LoadedModel, PromptBuilder};
use reasoning_model::Device;
use reasoning_tokenizer::Tokenizer;
use reasoning_verifier::datasets::Record;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("reasoning-distill8-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn record(problem: &str, thinking: &str, content: &str) -> DistillRecord {
    DistillRecord {
        problem: problem.into(),
        gtruth_answer: "5".into(),
        message_thinking: thinking.into(),
        message_content: content.into(),
    }
}

#[test]
fn targets_follow_the_books_format_with_stripped_parts() {
    let r = record("2 + 3?", "\n 2 + 3 = 5 \n", "  \\boxed{5}\n");
    assert_eq!(
        format_target(&r, TargetFormat::Book).unwrap(),
        "<think>2 + 3 = 5</think>\n\n\\boxed{5}"
    );
    assert_eq!(
        format_target(&r, TargetFormat::Qwen3).unwrap(),
        "<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}"
    );
    // Exercise 8.2: no think tags, also none written inside the fields.
    assert_eq!(
        format_target(&r, TargetFormat::Plain).unwrap(),
        "2 + 3 = 5\n\n\\boxed{5}"
    );
    let tagged = record("2 + 3?", "<think> 5 </think>", "\\boxed{5}");
    assert_eq!(
        format_target(&tagged, TargetFormat::Plain).unwrap(),
        "5\n\n\\boxed{5}"
    );
    let bare = record("2 + 3?", "  ", "\\boxed{5}");
    assert_eq!(
        format_target(&bare, TargetFormat::Plain).unwrap(),
        "\\boxed{5}"
    );
    assert_eq!(
        "plain".parse::<TargetFormat>().unwrap(),
        TargetFormat::Plain
    );
    let empty = record("2 + 3?", "x", "  \n");
    let err = format_target(&empty, TargetFormat::Book)
        .unwrap_err()
        .to_string();
    assert!(err.contains("message_content"), "{err}");
}

#[test]
fn a_teacher_answer_splits_at_the_first_closing_think_tag() {
    assert_eq!(
        split_thinking("<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}"),
        ("2 + 3 = 5".to_string(), "\\boxed{5}".to_string())
    );
    assert_eq!(
        split_thinking("\\boxed{5}"),
        (String::new(), "\\boxed{5}".to_string())
    );
    assert_eq!(
        split_thinking("<think>a</think>b</think>c"),
        ("a".to_string(), "b</think>c".to_string())
    );
}

#[test]
fn examples_are_prompt_then_target_then_turn_end_and_only_the_answer_is_scored() {
    let tok = common::tokenizer();
    let eos = turn_end_id(&tok).unwrap();
    let recs = vec![
        record("Evaluate 2 + 3.", "2 + 3 = 5", "\\boxed{5}"),
        record("Evaluate 4 * 2 + 1.", "4 * 2 = 8\n8 + 1 = 9", "\\boxed{9}"),
    ];
    let examples = build_examples(&tok, &recs, TargetFormat::Book).unwrap();
    for (r, e) in recs.iter().zip(&examples) {
        let prompt = tok.decode(&e.ids[..e.prompt_len], false).unwrap();
        let answer = tok.decode(&e.ids[e.prompt_len..], false).unwrap();
        assert!(
            prompt.contains(&format!("Question:\n{}\n\nAnswer:<|im_end|>", r.problem)),
            "{prompt}"
        );
        assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt:?}");
        assert_eq!(
            answer,
            format!(
                "{}<|im_end|>",
                format_target(r, TargetFormat::Book).unwrap()
            )
        );
        assert_eq!(*e.ids.last().unwrap(), eos);
    }
    // Loss masking: the targets of a collated batch are the answer ids (and EOS) only.
    let refs: Vec<&SftExample> = examples.iter().collect();
    let batch = collate(&refs, 0, 0.5, &Device::flex());
    let targets: Vec<i64> = batch
        .targets
        .clone()
        .into_data()
        .convert::<i64>()
        .try_into_vec()
        .unwrap();
    let weights: Vec<f32> = batch.weights.clone().into_data().try_into_vec().unwrap();
    let width = batch.targets.dims()[1];
    for (row, e) in examples.iter().enumerate() {
        let scored: Vec<i64> = (0..width)
            .filter(|&j| weights[row * width + j] > 0.0)
            .map(|j| targets[row * width + j])
            .collect();
        let answer: Vec<i64> = e.ids[e.prompt_len..].iter().map(|&i| i as i64).collect();
        assert_eq!(scored, answer, "row {row} scores exactly its answer tokens");
        let sum: f32 = weights[row * width..(row + 1) * width].iter().sum();
        assert!((sum - 0.5).abs() < 1e-6, "row {row} weighs {sum}");
    }
    let _: Tensor<2, Int> = batch.inputs;
}

#[test]
fn length_statistics_name_the_shortest_and_longest_example() {
    let e = |total: usize, prompt: usize| {
        SftExample::new(vec![1; prompt], vec![2; total - prompt]).unwrap()
    };
    let examples = vec![e(10, 4), e(7, 5), e(12, 2), e(7, 1)];
    let all = length_stats(&examples, false).unwrap();
    assert_eq!(
        (all.count, all.min, all.min_index, all.max, all.max_index),
        (4, 7, 1, 12, 2)
    );
    assert_eq!(all.mean, 9.0);
    let answers = length_stats(&examples, true).unwrap();
    assert_eq!(
        (
            answers.min,
            answers.min_index,
            answers.max,
            answers.max_index
        ),
        (2, 1, 10, 2)
    );
    assert!(length_stats(&[], true).is_none());
}

#[test]
fn examples_over_the_limit_are_dropped_whole_not_truncated() {
    let e = |n: usize| SftExample::new(vec![1; 2], vec![3; n - 2]).unwrap();
    let examples = vec![e(5), e(9), e(8), e(3)];
    let (kept, dropped) = filter_by_max_len(examples.clone(), 8);
    assert_eq!(dropped, 1);
    assert_eq!(
        kept,
        vec![
            examples[0].clone(),
            examples[2].clone(),
            examples[3].clone()
        ]
    );
}

#[test]
fn the_split_is_seeded_disjoint_and_takes_the_validation_size() {
    let items: Vec<usize> = (0..40).collect();
    let (train, val) = split_train_val(items.clone(), 5, 123).unwrap();
    assert_eq!((train.len(), val.len()), (35, 5));
    assert_eq!(
        split_train_val(items.clone(), 5, 123).unwrap(),
        (train.clone(), val.clone())
    );
    let (_, other) = split_train_val(items.clone(), 5, 124).unwrap();
    assert_ne!(other, val, "another seed gives another validation set");
    let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
    all.sort_unstable();
    assert_eq!(all, items);
    assert_ne!(train, items[..35].to_vec(), "the examples are shuffled");
    for bad in [0, 40] {
        let err = split_train_val(items.clone(), bad, 1)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("validation size {bad}")), "{err}");
    }
}

#[test]
fn records_load_from_a_json_array_and_from_json_lines() {
    let dir = scratch("load");
    let rows = [
        record("p1", "t1", "\\boxed{1}"),
        record("p2", "", "\\boxed{2}"),
    ];
    let array = dir.join("a.json");
    std::fs::write(&array, serde_json::to_string_pretty(&rows).unwrap()).unwrap();
    assert_eq!(load_distill_records(&array).unwrap(), rows.to_vec());
    let lines = dir.join("a.jsonl");
    let text: String = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    std::fs::write(&lines, text).unwrap();
    assert_eq!(load_distill_records(&lines).unwrap(), rows.to_vec());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_malformed_record_is_an_error_naming_file_line_record_and_field() {
    let dir = scratch("malformed");
    let good = r#"{"problem": "p", "gtruth_answer": "1", "message_thinking": "t", "message_content": "\\boxed{1}"}"#;
    let cases = [
        (
            r#"{"problem": "p", "gtruth_answer": "1", "message_thinking": "t"}"#,
            "missing field \"message_content\"",
        ),
        (
            r#"{"problem": "p", "gtruth_answer": "1", "message_thinking": 7, "message_content": "c"}"#,
            "field \"message_thinking\" is a number, expected a string",
        ),
        (
            r#"{"problem": "p", "gtruth_answer": "1", "message_thinking": "t", "message_content": "  "}"#,
            "field \"message_content\" is empty",
        ),
        (r#"["not", "an", "object"]"#, "not a JSON object"),
    ];
    for (i, (bad, want)) in cases.iter().enumerate() {
        let path = dir.join(format!("case{i}.jsonl"));
        std::fs::write(&path, format!("{good}\n{good}\n{bad}\n")).unwrap();
        let err = load_distill_records(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("case{i}.jsonl:3 (record 2)")),
            "names file, line and record: {err}"
        );
        assert!(err.contains(want), "{err}");
    }
    let array = dir.join("array.json");
    std::fs::write(&array, format!("[\n{good},\n{{\"problem\": \"p\"}}\n]")).unwrap();
    let err = load_distill_records(&array).unwrap_err().to_string();
    assert!(
        err.contains("array.json:3 (record 1)") && err.contains("gtruth_answer"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A fake teacher: sample `j` of problem `i` answers `i + j` (correct for j = 0 when the
/// reference is `i`), with a thinking block; sample 2 never finishes.
fn fake_answers(group: &[(usize, &Record)], k: usize) -> Vec<Vec<SampledAnswer>> {
    group
        .iter()
        .map(|&(i, _)| {
            (0..k)
                .map(|j| SampledAnswer {
                    text: format!("<think>\n{i} + {j}\n</think>\n\n\\boxed{{{}}}", i + j),
                    tokens: 10 + j,
                    finished: j != 2,
                })
                .collect()
        })
        .collect()
}

/// Runs the teacher `sample` over `problems` into the trace folder `dir` (resuming what it
/// holds), without progress reports.
fn run_traces(
    problems: &[Record],
    config: &TeacherConfig,
    dir: &Path,
    sample: impl FnMut(&[(usize, &Record)]) -> SampledBatch,
) -> Result<TraceSummary, DistillError> {
    let (mut log, resumed) = TraceLog::open(dir).unwrap();
    generate_traces(problems, config, &mut log, &resumed, sample, |_| {})
}

fn fake_config(batch_size: usize) -> TeacherConfig {
    TeacherConfig {
        num_samples: 3,
        batch_size,
        only_correct: false,
        ..TeacherConfig::default()
    }
}

#[test]
fn traces_are_graded_and_rejection_sampling_keeps_only_correct_finished_ones() {
    let dir = scratch("grading");
    let problems: Vec<Record> = (1..=4).map(|i| Record::new("q", i.to_string())).collect();
    for only_correct in [false, true] {
        let sub = dir.join(format!("only-{only_correct}"));
        let config = TeacherConfig {
            only_correct,
            ..fake_config(2)
        };
        let s = run_traces(&problems, &config, &sub, |g| Ok(fake_answers(g, 3))).unwrap();
        assert_eq!(
            (s.problems, s.generated, s.correct, s.solved),
            (4, 12, 4, 4)
        );
        // Sample 2 never finished: never kept. Sample 1 is wrong: kept only without rejection.
        assert_eq!(s.kept, if only_correct { 4 } else { 8 });
        let kept = load_distill_records(&sub.join(TRACES_FILE)).unwrap();
        assert_eq!(kept.len(), s.kept);
        assert_eq!(kept[0].message_thinking, "1 + 0");
        assert_eq!(kept[0].message_content, "\\boxed{1}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn identical_traces_of_a_problem_are_kept_once_unless_asked() {
    let dir = scratch("unique");
    let problems = vec![Record::new("q", "1")];
    let same = |g: &[(usize, &Record)]| -> SampledBatch {
        Ok(g.iter()
            .map(|_| {
                let text = |t: &str| SampledAnswer {
                    text: format!("<think>{t}</think>\n\n\\boxed{{1}}"),
                    tokens: 5,
                    finished: true,
                };
                vec![text("a"), text("b"), text("a")]
            })
            .collect())
    };
    for (unique, want) in [(true, 2), (false, 3)] {
        let config = TeacherConfig {
            unique,
            only_correct: true,
            ..fake_config(1)
        };
        let s = run_traces(&problems, &config, &dir.join(format!("u{unique}")), same).unwrap();
        assert_eq!((s.correct, s.kept), (3, want), "unique = {unique}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_crashed_trace_run_resumes_where_it_stopped_with_the_same_traces() {
    let dir = scratch("resume");
    let problems: Vec<Record> = (1..=7).map(|i| Record::new("q", i.to_string())).collect();
    let config = fake_config(2);

    // Reference: one uninterrupted run.
    let whole = dir.join("whole");
    run_traces(&problems, &config, &whole, |g| Ok(fake_answers(g, 3))).unwrap();

    // Run 1 fails on its third batch (problems 5-6): problems 1-4 are done.
    let part = dir.join("part");
    let calls = Cell::new(0);
    let err = run_traces(&problems, &config, &part, |g| {
        calls.set(calls.get() + 1);
        if calls.get() == 3 {
            return Err(DistillError::Data("teacher crashed".into()));
        }
        Ok(fake_answers(g, 3))
    });
    assert!(err.is_err());
    // A crash between the two writes of problem 5 (its trace written, no progress line), and
    // a line cut off mid-write.
    let traces = part.join(TRACES_FILE);
    let mut text = std::fs::read_to_string(&traces).unwrap();
    text.push_str(r#"{"problem":"q","gtruth_answer":"5","message_thinking":"x","message_content":"\\boxed{5}","index":5,"sample":0,"extracted":"5","correct":true,"tokens":3}"#);
    text.push_str("\n{\"problem\":\"q\",\"gtr");
    std::fs::write(&traces, text).unwrap();

    // Run 2 solves only problems 5, 6 and 7.
    let (mut log, resumed) = TraceLog::open(&part).unwrap();
    assert_eq!(resumed.done.len(), 4);
    assert!(
        resumed.traces.iter().all(|t| t.index <= 4),
        "problem 5's orphan trace is dropped"
    );
    let mut seen = Vec::new();
    let s = generate_traces(
        &problems,
        &config,
        &mut log,
        &resumed,
        |g| {
            seen.extend(g.iter().map(|(i, _)| *i));
            Ok(fake_answers(g, 3))
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(seen, vec![5, 6, 7]);
    assert_eq!(s.problems, 7);
    for file in [TRACES_FILE, PROGRESS_FILE] {
        assert_eq!(
            std::fs::read_to_string(part.join(file)).unwrap(),
            std::fs::read_to_string(whole.join(file)).unwrap(),
            "{file} equals the uninterrupted run's"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn model_samples_do_not_depend_on_the_batch_they_run_in() {
    let tok = common::tokenizer();
    let model = common::tiny_model(&Device::flex(), 3);
    let lm = LoadedModel::assemble(model, tok, "random".into()).unwrap();
    let problems: Vec<Record> = common::records(3)
        .iter()
        .map(|r| Record::new(&r.problem, &r.gtruth_answer))
        .collect();
    let group: Vec<(usize, &Record)> = problems
        .iter()
        .enumerate()
        .map(|(i, p)| (i + 1, p))
        .collect();
    let config = TeacherConfig {
        num_samples: 2,
        temperature: 1.0,
        top_p: None,
        max_new_tokens: 12,
        prompt: PromptBuilder::default(),
        ..TeacherConfig::default()
    };
    let together = model_sampler(&lm, &config)(&group).unwrap();
    assert_eq!(together.len(), 3);
    assert!(together.iter().all(|s| s.len() == 2));
    for (i, item) in group.iter().enumerate() {
        let alone = model_sampler(&lm, &config)(std::slice::from_ref(item)).unwrap();
        assert_eq!(
            alone[0],
            together[i],
            "problem {} alone vs in a batch of 3",
            i + 1
        );
    }
    assert_ne!(
        together[0][0], together[0][1],
        "two samples of a problem differ"
    );
    let _ = teacher::TRACES_FILE;
}

#[test]
fn the_books_sample_file_loads_and_builds_with_the_qwen3_tokenizer() {
    let Ok(assets) = std::env::var("REASONING_ASSETS") else {
        println!(
            "skipped: REASONING_ASSETS is not set (needs datasets/distill_sample_openrouter.json and qwen3/)"
        );
        return;
    };
    let assets = PathBuf::from(assets);
    let records =
        load_distill_records(&assets.join("datasets/distill_sample_openrouter.json")).unwrap();
    assert_eq!(records.len(), 5);
    let tok = Tokenizer::load(assets.join("qwen3")).unwrap();
    let examples = build_examples(&tok, &records, TargetFormat::Book).unwrap();
    let stats = length_stats(&examples, false).unwrap();
    assert_eq!(stats.count, 5);
    assert!(stats.min < stats.max);
    for e in &examples {
        let answer = tok.decode(&e.ids[e.prompt_len..], false).unwrap();
        assert!(
            answer.starts_with("<think>") && answer.ends_with("<|im_end|>"),
            "{answer:.80}"
        );
    }
    let (_, dropped) = filter_by_max_len(examples, stats.max - 1);
    assert!(dropped >= 1);
}

#[test]
fn the_arithmetic_step_check_accepts_only_true_equations() {
    use reasoning_distill::teacher::arithmetic_steps_hold;
    assert!(arithmetic_steps_hold("10 / 2 = 5\n9 - 5 = 4"));
    assert!(arithmetic_steps_hold("\n 3 * 4 = 12 \n\n12 + 1 = 13\n"));
    assert!(arithmetic_steps_hold("3 - 5 = -2"));
    for bad in [
        "9 / 2 = 5", // not exact
        "9 / 0 = 0", // no division by zero
        "10 / 2 = 5\n9 - 1 = 4",
        "2 + 2 = 4\nso the answer is 4",
        "",
        "2 + 2",
        "2 ^ 2 = 4",
    ] {
        assert!(!arithmetic_steps_hold(bad), "{bad:?}");
    }
}

#[test]
fn the_step_check_rejects_right_answers_reached_through_wrong_steps() {
    let dir = scratch("steps");
    let problems = vec![Record::new("Evaluate 9 - 10 / 2.", "4")];
    let answers = |g: &[(usize, &Record)]| -> SampledBatch {
        Ok(g.iter()
            .map(|_| {
                ["9 / 2 = 5\n5 - 1 = 4", "10 / 2 = 5\n9 - 5 = 4"]
                    .iter()
                    .map(|t| SampledAnswer {
                        text: format!("<think>\n{t}\n</think>\n\n\\boxed{{4}}"),
                        tokens: 20,
                        finished: true,
                    })
                    .collect()
            })
            .collect())
    };
    for (check, kept) in [(false, 2), (true, 1)] {
        let config = TeacherConfig {
            num_samples: 2,
            only_correct: true,
            check_arithmetic_steps: check,
            ..TeacherConfig::default()
        };
        let sub = dir.join(format!("check-{check}"));
        let s = run_traces(&problems, &config, &sub, answers).unwrap();
        assert_eq!((s.correct, s.kept), (2, kept), "check = {check}");
    }
    let kept = load_distill_records(&dir.join("check-true").join(TRACES_FILE)).unwrap();
    assert_eq!(kept[0].message_thinking, "10 / 2 = 5\n9 - 5 = 4");
    std::fs::remove_dir_all(dir).unwrap();
}
