//! The book's `.pth` checkpoints against the book's own forward pass, on the tiny random models
//! that `scripts/make_pth_fixtures.py` saves with `reasoning_from_scratch.qwen3.Qwen3Model`:
//! logits to 1e-5 in f32, greedy continuations identical, the configuration read off the
//! shapes, and every malformed or code-carrying file refused unrun with an error naming it.

mod common;

use common::{Reference, cached_greedy, fixture, max_abs_diff, tokens, values};
use reasoning_model::pth::PthCheckpoint;
use reasoning_model::{Config, DType, Device, Model, ModelError, ModelPath, hub};

const TOL: f32 = 1e-5;

fn book(name: &str) -> std::path::PathBuf {
    fixture("book-pth").join(name)
}

#[test]
fn book_checkpoints_give_the_books_logits_and_greedy_tokens() {
    let device = Device::flex();
    for (file, reference) in [
        ("tied/model.pth", "tied"),
        ("tied/legacy.pth", "tied"),
        ("untied-bf16/model.pth", "untied-bf16"),
    ] {
        let model =
            Model::load(&book(file), &device, DType::F32).unwrap_or_else(|e| panic!("{file}: {e}"));
        let r = Reference::read(&book(reference));
        let logits = values(model.forward(tokens(&r.input_ids, &device)));
        let diff = max_abs_diff(&logits, &r.logits);
        println!("{file}: max |Δlogit| = {diff:.1e}");
        assert!(diff < TOL, "{file}: max |Δlogit| = {diff}");
        let prompt_len = r.input_ids[0].len();
        let (generated, _) = cached_greedy(&model, &r, &device);
        for (b, row) in generated.iter().enumerate() {
            assert_eq!(row[..], r.greedy_ids[b][prompt_len..], "{file}, row {b}");
        }
    }
}

#[test]
fn the_configuration_is_read_off_the_shapes() {
    let tied = PthCheckpoint::open(&book("tied/model.pth"))
        .unwrap()
        .infer_config()
        .unwrap();
    // The script's TINY: vocab 512, emb 32, 6 heads of 8 sharing 2 K/V heads, ffn 48, 2 layers.
    assert_eq!(
        (
            tied.vocab_size,
            tied.hidden_size,
            tied.num_attention_heads,
            tied.num_key_value_heads,
            tied.head_dim,
            tied.intermediate_size,
            tied.num_hidden_layers,
        ),
        (512, 32, 6, 2, 8, 48, 2)
    );
    assert!(tied.tie_word_embeddings);
    assert_eq!(tied.rope_theta, 1e6);
    // Not Qwen3's vocabulary, so not its special ids.
    assert!(tied.eos_token_id.is_empty());
    let untied = PthCheckpoint::open(&book("untied-bf16/model.pth"))
        .unwrap()
        .infer_config()
        .unwrap();
    assert!(!untied.tie_word_embeddings);
    assert_eq!(
        PthCheckpoint::open(&book("tied/model.pth"))
            .unwrap()
            .book_names()
            .len(),
        2 + 2 * 11 + 1,
        "tok_emb, out_head, 11 per block, final_norm"
    );
}

#[test]
fn a_given_configuration_is_checked_against_the_file() {
    let device = Device::flex();
    let tied = PthCheckpoint::open(&book("tied/model.pth"))
        .unwrap()
        .infer_config()
        .unwrap();
    // The inferred configuration, given explicitly, loads the same model.
    let a = Model::load_pth(&book("tied/model.pth"), Some(&tied), &device, DType::F32).unwrap();
    let b = Model::load(&book("tied/model.pth"), &device, DType::F32).unwrap();
    let input = tokens(&[vec![1, 2, 3]], &device);
    assert_eq!(
        values(a.forward(input.clone())),
        values(b.forward(input.clone()))
    );
    // An untied configuration takes out_head as its own head, with the same result.
    let mut untied = tied.clone();
    untied.tie_word_embeddings = false;
    let c = Model::load_pth(&book("tied/model.pth"), Some(&untied), &device, DType::F32).unwrap();
    assert_eq!(values(c.forward(input.clone())), values(b.forward(input)));
    // Qwen3-0.6B's shapes are not the tiny file's: the error names the book's tensor.
    let err = Model::load_pth(
        &book("tied/model.pth"),
        Some(&Config::qwen3_0_6b()),
        &device,
        DType::F32,
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ModelError::ShapeMismatch { ref name, .. } if name == "tok_emb.weight"),
        "{text}"
    );
    // A tied configuration refuses a file whose head is its own.
    let mut tied_small = PthCheckpoint::open(&book("untied-bf16/model.pth"))
        .unwrap()
        .infer_config()
        .unwrap();
    tied_small.tie_word_embeddings = true;
    let err = Model::load_pth(
        &book("untied-bf16/model.pth"),
        Some(&tied_small),
        &device,
        DType::F32,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("out_head.weight differs"), "{err}");
}

#[test]
fn pth_files_resolve_as_models() {
    let path = book("tied/model.pth");
    let resolved = hub::resolve(path.to_str().unwrap()).unwrap();
    assert_eq!(resolved, ModelPath::Pth(path));
}

#[test]
fn malformed_and_code_carrying_files_are_refused_unrun() {
    let device = Device::flex();
    for (file, expect) in [
        (
            "bad/code.pth",
            "entry \"extra\" is a Python object of type posix.system",
        ),
        (
            "bad/root-code.pth",
            "its root is a Python object of type posix.system",
        ),
        ("bad/nested.pth", "entry \"model\" is a dictionary"),
        ("bad/truncated.pth", "not a readable PyTorch file"),
        ("bad/garbage.pth", "not a readable PyTorch file"),
    ] {
        let path = book(file);
        let err = Model::load(&path, &device, DType::F32).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ModelError::Pth { .. }), "{file}: {text}");
        assert!(text.contains(&path.display().to_string()), "{file}: {text}");
        assert!(text.contains(expect), "{file}: {text}");
    }
    let missing = book("bad/absent.pth");
    let err = Model::load(&missing, &device, DType::F32).unwrap_err();
    assert!(matches!(err, ModelError::Io { .. }), "{err}");
}
