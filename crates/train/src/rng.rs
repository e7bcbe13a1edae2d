//! Saving and restoring the exact position of a [`ChaCha8Rng`] stream.

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// The complete state of a [`ChaCha8Rng`]: key, stream and word position.
///
/// Restoring it continues the stream exactly where it was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The 32-byte key, as hex.
    pub seed: String,
    /// The stream number.
    pub stream: u64,
    /// The position in the stream, in 32-bit words (a decimal string: it is a `u128`).
    pub word_pos: String,
}

impl RngState {
    /// Captures the state of `rng`.
    pub fn capture(rng: &ChaCha8Rng) -> Self {
        let seed = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
        Self {
            seed,
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// Rebuilds the generator at the captured position.
    pub fn restore(&self) -> Result<ChaCha8Rng, TrainError> {
        let bad = |m: String| TrainError::Config {
            what: "RNG state",
            message: m,
        };
        if self.seed.len() != 64 {
            return Err(bad(format!(
                "seed has {} hex digits, expected 64",
                self.seed.len()
            )));
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&self.seed[2 * i..2 * i + 2], 16)
                .map_err(|_| bad(format!("seed {:?} is not hex", self.seed)))?;
        }
        let word_pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| bad(format!("word_pos {:?} is not a number", self.word_pos)))?;
        let mut rng = <ChaCha8Rng as rand::SeedableRng>::from_seed(key);
        rng.set_stream(self.stream);
        rng.set_word_pos(word_pos);
        Ok(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn restored_rng_continues_the_same_stream() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let _: Vec<u32> = (0..17).map(|_| rng.random()).collect();
        let state = RngState::capture(&rng);
        let json = serde_json::to_string(&state).unwrap();
        let mut back = serde_json::from_str::<RngState>(&json)
            .unwrap()
            .restore()
            .unwrap();
        let a: Vec<u64> = (0..50).map(|_| rng.random()).collect();
        let b: Vec<u64> = (0..50).map(|_| back.random()).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn malformed_state_names_the_field() {
        let state = RngState {
            seed: "zz".repeat(32),
            stream: 0,
            word_pos: "0".into(),
        };
        assert!(state.restore().unwrap_err().to_string().contains("not hex"));
    }
}
