//! Hub settings from the environment (`HF_HOME`, `HF_HUB_OFFLINE`). A test binary of its own:
//! it is the only code in this process that touches the environment.

use reasoning_model::hub::Hub;

#[test]
fn hf_home_from_the_environment_is_honoured() {
    let tmp = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary; no other thread reads or writes the environment.
    unsafe {
        std::env::set_var("HF_HOME", tmp.path());
        std::env::set_var("HF_HUB_OFFLINE", "1");
    }
    let hub = Hub::from_env();
    assert_eq!(hub.cache_dir, tmp.path().join("hub"));
    assert!(hub.offline);
    let err = reasoning_model::hub::resolve("Qwen/Qwen3-0.6B")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Qwen/Qwen3-0.6B") && err.contains(".gguf"),
        "{err}"
    );
}
