//! Runs `examples/custom_reward.rs`, the library user's GRPO loop, for two steps.

#[allow(dead_code)]
#[path = "../examples/custom_reward.rs"]
mod custom_reward;

#[test]
fn the_custom_reward_example_trains_two_steps_on_the_embedded_model() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rewards = custom_reward::run(&root, 2).unwrap();
    assert_eq!(rewards.len(), 2);
    // Each mean reward is the mean of terms in [0, 1].
    assert!(
        rewards.iter().all(|r| (0.0..=1.0).contains(r)),
        "{rewards:?}"
    );
}
