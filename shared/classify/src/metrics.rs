//! Classification quality: accuracy, per-class and macro F1, most-confused pairs.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct ClassScore {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Examples of this label in the truth.
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub truth: String,
    pub predicted: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub examples: usize,
    pub accuracy: f64,
    /// Unweighted mean of per-class F1 over every label in the truth or the predictions.
    pub macro_f1: f64,
    pub per_class: Vec<ClassScore>,
    /// Most frequent (truth, predicted) errors, most first.
    pub confused: Vec<Confusion>,
}

/// Scores `predicted` against `truth` (same length; extra items of the longer list are
/// ignored). `top_confused` bounds the confusion summary.
pub fn evaluate<A: AsRef<str>, B: AsRef<str>>(
    truth: &[A],
    predicted: &[B],
    top_confused: usize,
) -> Report {
    let n = truth.len().min(predicted.len());
    let mut labels: BTreeSet<&str> = BTreeSet::new();
    let mut pairs: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut correct = 0;
    for i in 0..n {
        let (t, p) = (truth[i].as_ref(), predicted[i].as_ref());
        labels.insert(t);
        labels.insert(p);
        *pairs.entry((t, p)).or_default() += 1;
        if t == p {
            correct += 1;
        }
    }
    let mut per_class = Vec::with_capacity(labels.len());
    for &l in &labels {
        let tp = pairs.get(&(l, l)).copied().unwrap_or(0);
        let support: usize = pairs
            .iter()
            .filter(|((t, _), _)| *t == l)
            .map(|(_, c)| c)
            .sum();
        let predicted_as: usize = pairs
            .iter()
            .filter(|((_, p), _)| *p == l)
            .map(|(_, c)| c)
            .sum();
        let precision = ratio(tp, predicted_as);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_class.push(ClassScore {
            label: l.to_string(),
            precision,
            recall,
            f1,
            support,
        });
    }
    let macro_f1 = if per_class.is_empty() {
        0.0
    } else {
        per_class.iter().map(|c| c.f1).sum::<f64>() / per_class.len() as f64
    };
    let mut confused: Vec<Confusion> = pairs
        .iter()
        .filter(|((t, p), _)| t != p)
        .map(|((t, p), c)| Confusion {
            truth: t.to_string(),
            predicted: p.to_string(),
            count: *c,
        })
        .collect();
    // Stable sort: ties keep label order, so the summary is deterministic.
    confused.sort_by_key(|c| std::cmp::Reverse(c.count));
    confused.truncate(top_confused);
    Report {
        examples: n,
        accuracy: ratio(correct, n),
        macro_f1,
        per_class,
        confused,
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_a_known_confusion() {
        let truth = ["a", "a", "a", "b", "b", "c"];
        let pred = ["a", "a", "b", "b", "a", "c"];
        let r = evaluate(&truth, &pred, 5);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-9);
        let a = &r.per_class[0];
        assert_eq!(a.label, "a");
        assert!((a.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((a.recall - 2.0 / 3.0).abs() < 1e-9);
        let b = &r.per_class[1];
        assert!((b.f1 - 0.5).abs() < 1e-9);
        assert!((r.per_class[2].f1 - 1.0).abs() < 1e-9);
        assert!((r.macro_f1 - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-9);
        assert_eq!(r.confused.len(), 2);
        assert_eq!(r.confused[0].truth, "a");
        assert_eq!(r.confused[0].predicted, "b");
    }

    #[test]
    fn empty_is_zero_not_nan() {
        let none: [&str; 0] = [];
        let r = evaluate(&none, &none, 3);
        assert_eq!(r.accuracy, 0.0);
        assert_eq!(r.macro_f1, 0.0);
    }
}
