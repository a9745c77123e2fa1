//! Multinomial logistic regression (softmax) over hashed features, trained with AdaGrad and
//! L2, deterministic given a seed; weights kept as per-row scaled `i8` for a small model.

use crate::features::{extract, FeatureSpec};
use crate::ClassifyError;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub features: FeatureSpec,
    pub epochs: u32,
    /// AdaGrad's base step.
    pub learning_rate: f32,
    /// L2 penalty per update on the weights an example touches (lazy regularisation).
    pub l2: f32,
    pub seed: u64,
    /// Fit a softmax temperature on a held-out tenth of the examples (then train on all), so
    /// confidences mean something; skipped below [`MIN_CALIBRATION_EXAMPLES`].
    pub calibrate: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            features: FeatureSpec::default(),
            epochs: 5,
            learning_rate: 0.3,
            l2: 1e-5,
            seed: 7,
            calibrate: true,
        }
    }
}

pub const MIN_CALIBRATION_EXAMPLES: usize = 100;

/// A trained model. Immutable; predicting needs no locking.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub(crate) spec: FeatureSpec,
    pub(crate) labels: Vec<String>,
    pub(crate) bias: Vec<f32>,
    pub(crate) temperature: f32,
    /// Hashed feature ids with a weight row, strictly increasing (binary-searched).
    pub(crate) features: Vec<u32>,
    /// One scale per row: weight = q * scale.
    pub(crate) scales: Vec<f32>,
    /// `features.len() * labels.len()` quantised weights, row-major.
    pub(crate) weights: Vec<i8>,
}

/// One prediction: the best label, its probability, and every label's probability.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub label: usize,
    pub confidence: f32,
    pub probabilities: Vec<f32>,
}

impl Model {
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn label(&self, index: usize) -> &str {
        self.labels.get(index).map(String::as_str).unwrap_or("")
    }

    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    pub fn feature_spec(&self) -> FeatureSpec {
        self.spec
    }

    /// Weight rows stored (hashed features seen in training).
    pub fn rows(&self) -> usize {
        self.features.len()
    }

    fn logits(&self, feats: &[(u32, f32)]) -> Vec<f32> {
        let k = self.labels.len();
        let mut z = self.bias.clone();
        for &(f, x) in feats {
            if let Ok(row) = self.features.binary_search(&f) {
                let s = self.scales[row] * x;
                let w = &self.weights[row * k..(row + 1) * k];
                for (zk, &q) in z.iter_mut().zip(w) {
                    *zk += f32::from(q) * s;
                }
            }
        }
        z
    }

    pub fn predict(&self, text: &str) -> Prediction {
        let feats = extract(&self.spec, text);
        let mut z = self.logits(&feats);
        for v in &mut z {
            *v /= self.temperature;
        }
        softmax(&mut z);
        let (label, confidence) = argmax(&z);
        Prediction {
            label,
            confidence,
            probabilities: z,
        }
    }
}

fn softmax(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    if sum > 0.0 && sum.is_finite() {
        for v in z.iter_mut() {
            *v /= sum;
        }
    }
}

fn argmax(p: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &v) in p.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    (best.0, best.1.max(0.0))
}

/// SplitMix64: a tiny, stable PRNG (shuffles must not change when a dependency does).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// A deterministic stratified split: for each label, `test_fraction` of its examples (rounded,
/// none for a label seen once) go to the second list. Returns indices, each list sorted.
pub fn stratified_split<S: AsRef<str>>(
    labels: &[S],
    test_fraction: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut by_label: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, l) in labels.iter().enumerate() {
        by_label.entry(l.as_ref()).or_default().push(i);
    }
    let frac = if test_fraction.is_finite() {
        test_fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut rng = Rng::new(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (_, mut idx) in by_label {
        rng.shuffle(&mut idx);
        let n_test = if idx.len() < 2 {
            0
        } else {
            ((idx.len() as f64 * frac).round() as usize).min(idx.len() - 1)
        };
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Trains on `(text, label)` pairs. Needs at least two examples and two distinct labels.
pub fn train<T: AsRef<str>, L: AsRef<str>>(
    examples: &[(T, L)],
    config: &TrainConfig,
) -> Result<Model, ClassifyError> {
    if !config.features.is_valid() {
        return Err(ClassifyError::BadConfig(
            "feature settings out of range".into(),
        ));
    }
    let rate_ok = config.learning_rate.is_finite() && config.learning_rate > 0.0;
    let l2_ok = config.l2.is_finite() && config.l2 >= 0.0;
    if !rate_ok || !l2_ok || !(1..=1000).contains(&config.epochs) {
        return Err(ClassifyError::BadConfig(
            "learning rate, L2 or epochs out of range".into(),
        ));
    }
    let labels: BTreeSet<&str> = examples.iter().map(|(_, l)| l.as_ref()).collect();
    if labels.len() < 2 {
        return Err(ClassifyError::NotEnoughLabels(labels.len()));
    }
    if labels.len() > usize::from(u16::MAX) {
        return Err(ClassifyError::BadConfig("too many labels".into()));
    }
    if !config.calibrate || examples.len() < MIN_CALIBRATION_EXAMPLES {
        return fit(examples, config, 1.0);
    }
    // Temperature from a model that has not seen the held-out tenth, then the final model on all.
    let names: Vec<&str> = examples.iter().map(|(_, l)| l.as_ref()).collect();
    let (fit_idx, held_idx) = stratified_split(&names, 0.1, config.seed ^ 0x5eed);
    let part: Vec<(&str, &str)> = fit_idx
        .iter()
        .map(|&i| (examples[i].0.as_ref(), examples[i].1.as_ref()))
        .collect();
    let temperature = match fit(&part, config, 1.0) {
        Ok(m) => {
            let held: Vec<(Vec<f32>, Option<usize>)> = held_idx
                .iter()
                .map(|&i| {
                    let (t, l) = (&examples[i].0, &examples[i].1);
                    let z = m.logits(&extract(&m.spec, t.as_ref()));
                    (z, m.labels.iter().position(|x| x == l.as_ref()))
                })
                .collect();
            fit_temperature(&held)
        }
        // The split can leave a single label in the fitting part; keep the raw softmax.
        Err(_) => 1.0,
    };
    fit(examples, config, temperature)
}

/// The temperature that minimises held-out negative log-likelihood (a coarse log grid, then a
/// finer one around the best). Labels the fitting part never saw are skipped.
fn fit_temperature(held: &[(Vec<f32>, Option<usize>)]) -> f32 {
    let nll = |t: f32| -> f64 {
        let mut total = 0.0f64;
        for (z, y) in held {
            let Some(y) = *y else { continue };
            let mut p: Vec<f32> = z.iter().map(|v| v / t).collect();
            softmax(&mut p);
            total -= f64::from(p.get(y).copied().unwrap_or(0.0).max(1e-9)).ln();
        }
        total
    };
    let mut best = (1.0f32, nll(1.0));
    for i in -20..=20 {
        let t = 2f32.powf(i as f32 / 5.0);
        let v = nll(t);
        if v < best.1 {
            best = (t, v);
        }
    }
    let centre = best.0;
    for i in -10..=10 {
        let t = centre * 2f32.powf(i as f32 / 50.0);
        let v = nll(t);
        if v < best.1 {
            best = (t, v);
        }
    }
    best.0
}

fn fit<T: AsRef<str>, L: AsRef<str>>(
    examples: &[(T, L)],
    config: &TrainConfig,
    temperature: f32,
) -> Result<Model, ClassifyError> {
    if examples.len() < 2 {
        return Err(ClassifyError::NotEnoughExamples(examples.len()));
    }
    let label_set: BTreeSet<&str> = examples.iter().map(|(_, l)| l.as_ref()).collect();
    if label_set.len() < 2 {
        return Err(ClassifyError::NotEnoughLabels(label_set.len()));
    }
    let labels: Vec<String> = label_set.iter().map(|s| s.to_string()).collect();
    let label_index: HashMap<&str, usize> =
        label_set.iter().enumerate().map(|(i, l)| (*l, i)).collect();
    let k = labels.len();

    // Compact the hashed space to the features actually seen: memory ∝ vocabulary, not 2^bits.
    let mut dense_of: HashMap<u32, u32> = HashMap::new();
    let mut hashed: Vec<u32> = Vec::new();
    let mut data: Vec<(Vec<(u32, f32)>, usize)> = Vec::with_capacity(examples.len());
    for (text, label) in examples {
        let feats = extract(&config.features, text.as_ref())
            .into_iter()
            .map(|(f, x)| {
                let id = *dense_of.entry(f).or_insert_with(|| {
                    hashed.push(f);
                    (hashed.len() - 1) as u32
                });
                (id, x)
            })
            .collect();
        let y = label_index.get(label.as_ref()).copied().unwrap_or(0);
        data.push((feats, y));
    }
    let n = hashed.len();
    let mut w = vec![0f32; n * k];
    let mut g2 = vec![0f32; n * k];
    let mut b = vec![0f32; k];
    let mut gb = vec![0f32; k];
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut rng = Rng::new(config.seed);
    let (lr, l2) = (config.learning_rate, config.l2);
    let mut z = vec![0f32; k];
    let mut active: Vec<usize> = Vec::with_capacity(k);
    for _ in 0..config.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let (feats, y) = &data[i];
            z.copy_from_slice(&b);
            for &(f, x) in feats {
                let row = &w[f as usize * k..(f as usize + 1) * k];
                for (zk, wk) in z.iter_mut().zip(row) {
                    *zk += wk * x;
                }
            }
            softmax(&mut z);
            z[*y] -= 1.0; // z is now the gradient of the loss w.r.t. the logits
            for (kk, &g) in z.iter().enumerate() {
                gb[kk] += g * g;
                b[kk] -= lr * g / (gb[kk].sqrt() + 1e-6);
            }
            // Once the model is fairly sure, most classes have a negligible gradient: updating
            // only the others makes an epoch several times faster for the same result.
            active.clear();
            active.extend((0..k).filter(|&kk| z[kk].abs() > 1e-4));
            for &(f, x) in feats {
                let base = f as usize * k;
                if active.len() == k {
                    // Every class: the plain loop vectorises (same arithmetic, same result).
                    let row = &mut w[base..base + k];
                    let acc = &mut g2[base..base + k];
                    for ((wk, ak), &g) in row.iter_mut().zip(acc.iter_mut()).zip(z.iter()) {
                        let grad = g * x + l2 * *wk;
                        *ak += grad * grad;
                        *wk -= lr * grad / (ak.sqrt() + 1e-6);
                    }
                    continue;
                }
                for &kk in &active {
                    let (wk, ak) = (&mut w[base + kk], &mut g2[base + kk]);
                    let grad = z[kk] * x + l2 * *wk;
                    *ak += grad * grad;
                    *wk -= lr * grad / (ak.sqrt() + 1e-6);
                }
            }
        }
    }

    // Rows in hashed order, quantised to i8 with one scale per row.
    let mut perm: Vec<usize> = (0..n).collect();
    perm.sort_unstable_by_key(|&i| hashed[i]);
    let mut features = Vec::with_capacity(n);
    let mut scales = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n * k);
    for i in perm {
        let row = &w[i * k..(i + 1) * k];
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        if max == 0.0 || !max.is_finite() {
            continue;
        }
        let scale = max / 127.0;
        features.push(hashed[i]);
        scales.push(scale);
        weights.extend(
            row.iter()
                .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8),
        );
    }
    if b.iter().any(|v| !v.is_finite()) {
        return Err(ClassifyError::BadConfig("training diverged".into()));
    }
    Ok(Model {
        spec: config.features,
        labels,
        bias: b,
        temperature: if temperature.is_finite() && temperature > 0.0 {
            temperature
        } else {
            1.0
        },
        features,
        scales,
        weights,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Vec<(&'static str, &'static str)> {
        vec![
            ("I was charged twice for my order", "billing"),
            ("refund my payment please", "billing"),
            ("my invoice shows the wrong amount", "billing"),
            ("double charge on my credit card", "billing"),
            ("cannot log in to my account", "login"),
            ("password reset email never arrives", "login"),
            ("two factor code is rejected at sign in", "login"),
            ("locked out of my account after login attempts", "login"),
            ("the app crashes when I open settings", "bug"),
            ("error 500 when saving the form", "bug"),
            ("page is blank after the update", "bug"),
            ("button does nothing, broken feature", "bug"),
        ]
    }

    #[test]
    fn learns_a_toy_problem_deterministically() {
        let cfg = TrainConfig::default();
        let m = train(&toy(), &cfg).expect("ok");
        assert_eq!(m.labels(), ["billing", "bug", "login"]);
        let p = m.predict("I got charged twice, I want a refund");
        assert_eq!(m.label(p.label), "billing");
        let p = m.predict("can't log in, password reset does not work");
        assert_eq!(m.label(p.label), "login");
        let sum: f32 = p.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert_eq!(m, train(&toy(), &cfg).expect("ok"));
        let other = train(&toy(), &TrainConfig { seed: 99, ..cfg }).expect("ok");
        assert_ne!(m.weights, other.weights);
    }

    #[test]
    fn refuses_too_little_to_learn() {
        let cfg = TrainConfig::default();
        assert!(matches!(
            train(&[("a", "x"), ("b", "x")], &cfg),
            Err(ClassifyError::NotEnoughLabels(1))
        ));
        let none: [(&str, &str); 0] = [];
        assert!(matches!(
            train(&none, &cfg),
            Err(ClassifyError::NotEnoughLabels(0))
        ));
        let bad = TrainConfig {
            epochs: 0,
            ..TrainConfig::default()
        };
        assert!(matches!(
            train(&toy(), &bad),
            Err(ClassifyError::BadConfig(_))
        ));
    }

    #[test]
    fn stratified_split_is_deterministic_and_keeps_every_label_in_train() {
        let labels = ["a", "a", "a", "a", "a", "b", "b", "b", "b", "b", "c"];
        let (tr, te) = stratified_split(&labels, 0.2, 1);
        assert_eq!(tr.len() + te.len(), labels.len());
        assert_eq!(te.len(), 2);
        assert!(tr.iter().any(|&i| labels[i] == "c"));
        assert_eq!((tr.clone(), te.clone()), stratified_split(&labels, 0.2, 1));
    }
}
