//! Text normalisation and hashed features: word unigrams and bigrams, and character n-grams
//! inside words (with boundary marks, so prefixes and suffixes count).

/// Longer texts are cut here: the first few thousand characters carry the topic, and the cost
/// of one prediction stays bounded whatever a customer pastes.
pub const MAX_CHARS: usize = 4000;

/// Which features to extract; stored in the model so prediction extracts the same ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureSpec {
    /// Features are hashed into `2^hash_bits` buckets.
    pub hash_bits: u8,
    pub word_bigrams: bool,
    /// Character n-gram lengths, inclusive; `char_min == 0` turns them off.
    pub char_min: u8,
    pub char_max: u8,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        Self {
            hash_bits: 20,
            word_bigrams: true,
            char_min: 3,
            char_max: 5,
        }
    }
}

pub const MIN_HASH_BITS: u8 = 10;
pub const MAX_HASH_BITS: u8 = 24;
pub const MAX_CHAR_NGRAM: u8 = 8;

impl FeatureSpec {
    pub fn is_valid(&self) -> bool {
        (MIN_HASH_BITS..=MAX_HASH_BITS).contains(&self.hash_bits)
            && self.char_max <= MAX_CHAR_NGRAM
            && (self.char_min == 0 || (1..=self.char_max).contains(&self.char_min))
    }
}

/// Lower-case words of letters and digits; every digit becomes `0` (order numbers, amounts and
/// dates then share features), everything else separates words.
pub fn normalise(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in text.chars().take(MAX_CHARS) {
        if c.is_alphanumeric() {
            if c.is_numeric() {
                word.push('0');
            } else {
                word.extend(c.to_lowercase());
            }
        } else if !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// FNV-1a, 64 bit: stable across platforms and releases (the model depends on it), unlike
/// std's hasher.
fn fnv(namespace: u8, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u8| {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(namespace);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            eat(0x1f);
        }
        for &b in *part {
            eat(b);
        }
    }
    // Final mix: FNV's low bits are weak for short inputs, and we keep only the low bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// The sparse feature vector of a text: sorted bucket indices with sub-linear counts,
/// L2-normalised (long and short texts weigh the same). Empty for a text without words.
pub fn extract(spec: &FeatureSpec, text: &str) -> Vec<(u32, f32)> {
    let mask = (1u64 << spec.hash_bits) - 1;
    let mut raw: Vec<u32> = Vec::new();
    let words = normalise(text);
    let mut padded = String::new();
    let mut bounds: Vec<usize> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        raw.push((fnv(b'w', &[w.as_bytes()]) & mask) as u32);
        if spec.word_bigrams {
            if let Some(next) = words.get(i + 1) {
                raw.push((fnv(b'b', &[w.as_bytes(), next.as_bytes()]) & mask) as u32);
            }
        }
        if spec.char_min > 0 {
            padded.clear();
            padded.push('<');
            padded.push_str(w);
            padded.push('>');
            bounds.clear();
            bounds.extend(padded.char_indices().map(|(i, _)| i));
            bounds.push(padded.len());
            let chars = bounds.len() - 1;
            for n in usize::from(spec.char_min)..=usize::from(spec.char_max) {
                if n > chars {
                    break;
                }
                // The whole padded word is already the unigram feature.
                if n == chars && chars > 2 {
                    continue;
                }
                for start in 0..=(chars - n) {
                    let gram = &padded.as_bytes()[bounds[start]..bounds[start + n]];
                    raw.push((fnv(b'c', &[gram]) & mask) as u32);
                }
            }
        }
    }
    raw.sort_unstable();
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let mut j = i;
        while j < raw.len() && raw[j] == raw[i] {
            j += 1;
        }
        out.push((raw[i], 1.0 + ((j - i) as f32).ln()));
        i = j;
    }
    let norm = out.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, v) in &mut out {
            *v /= norm;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_digits_and_punctuation() {
        assert_eq!(
            normalise("My CARD #1234 hasn't arrived!"),
            vec!["my", "card", "0000", "hasn", "t", "arrived"]
        );
        assert_eq!(
            normalise("Überweisung fehlgeschlagen"),
            vec!["überweisung", "fehlgeschlagen"]
        );
        assert!(normalise("  ...  ").is_empty());
    }

    #[test]
    fn features_are_sorted_unique_and_unit_length() {
        let spec = FeatureSpec::default();
        let f = extract(&spec, "refund refund please, my refund");
        assert!(f.windows(2).all(|w| w[0].0 < w[1].0));
        let norm: f32 = f.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-4);
        assert!(extract(&spec, "").is_empty());
        // Deterministic: the stored model depends on it.
        assert_eq!(f, extract(&spec, "refund refund please, my refund"));
    }

    #[test]
    fn char_ngrams_link_word_forms() {
        let spec = FeatureSpec::default();
        let a: std::collections::BTreeSet<u32> =
            extract(&spec, "refunded").iter().map(|x| x.0).collect();
        let b: std::collections::BTreeSet<u32> =
            extract(&spec, "refunds").iter().map(|x| x.0).collect();
        assert!(a.intersection(&b).count() >= 5);
        let words_only = FeatureSpec {
            char_min: 0,
            char_max: 0,
            ..spec
        };
        assert_eq!(extract(&words_only, "refunded").len(), 1);
    }
}
