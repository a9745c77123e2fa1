//! Ticket categorisation without a service: a linear text classifier trained in-process.
//!
//! Features are hashed word unigrams and bigrams plus character 3–5-grams inside words
//! ([`features`]); the model is multinomial logistic regression trained with AdaGrad and L2,
//! deterministic given a seed, with a softmax temperature fitted on a held-out slice
//! ([`model`]); it is stored as sparse rows of `i8` weights with a SHA-256 checksum
//! ([`format`]). [`metrics`] scores predictions. Pure: no I/O, no clock, no async.

pub mod features;
pub mod format;
pub mod metrics;
pub mod model;

pub use features::FeatureSpec;
pub use metrics::{evaluate, Report};
pub use model::{stratified_split, train, Model, Prediction, TrainConfig};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClassifyError {
    #[error("need at least two examples to train, got {0}")]
    NotEnoughExamples(usize),
    #[error("need examples of at least two categories to train, got {0}")]
    NotEnoughLabels(usize),
    #[error("bad training settings: {0}")]
    BadConfig(String),
    #[error("stored model is corrupt: {0}")]
    Corrupt(String),
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn model() -> &'static Model {
        static M: OnceLock<Model> = OnceLock::new();
        M.get_or_init(|| {
            let ex = [
                ("charged twice refund", "billing"),
                ("invoice wrong amount", "billing"),
                ("cannot log in password", "login"),
                ("locked out of account", "login"),
            ];
            train(&ex, &TrainConfig::default()).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    proptest! {
        #[test]
        fn no_text_panics_and_probabilities_sum_to_one(text in any::<String>()) {
            let p = model().predict(&text);
            let sum: f32 = p.probabilities.iter().sum();
            prop_assert!((sum - 1.0).abs() < 1e-3);
            prop_assert!(p.confidence > 0.0 && p.confidence <= 1.0);
        }

        #[test]
        fn no_byte_string_panics_as_a_model(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Model::from_bytes(&bytes);
        }

        #[test]
        fn training_on_any_text_does_not_panic(a in any::<String>(), b in any::<String>()) {
            let ex = [(a.as_str(), "x"), (b.as_str(), "y")];
            let cfg = TrainConfig { epochs: 2, ..TrainConfig::default() };
            let m = train(&ex, &cfg).unwrap_or_else(|e| panic!("{e}"));
            let again = Model::from_bytes(&m.to_bytes());
            prop_assert_eq!(again.ok(), Some(m));
        }
    }
}
