//! The stored model: little-endian, checksummed, refused (never a panic) when anything is off.
//!
//! ```text
//! "HDCL" | format u16 | payload length u32 | payload | SHA-256(payload) 32 bytes
//! payload: hash_bits u8 | word_bigrams u8 | char_min u8 | char_max u8 | temperature f32
//!          | labels u16 | (len u16, UTF-8) per label | bias f32 per label
//!          | rows u32 | per row: feature u32 (strictly increasing), scale f32, i8 per label
//! ```

use crate::features::FeatureSpec;
use crate::model::Model;
use crate::ClassifyError;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 4] = b"HDCL";
pub const FORMAT_VERSION: u16 = 1;

impl Model {
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.labels.len();
        let mut p = Vec::with_capacity(16 + self.features.len() * (8 + k));
        p.push(self.spec.hash_bits);
        p.push(u8::from(self.spec.word_bigrams));
        p.push(self.spec.char_min);
        p.push(self.spec.char_max);
        p.extend_from_slice(&self.temperature.to_le_bytes());
        p.extend_from_slice(&(k as u16).to_le_bytes());
        for l in &self.labels {
            // Labels longer than u16 cannot come from training (they are category names), but
            // cut on a character boundary rather than write a length that lies.
            let mut end = l.len().min(usize::from(u16::MAX));
            while !l.is_char_boundary(end) {
                end -= 1;
            }
            p.extend_from_slice(&(end as u16).to_le_bytes());
            p.extend_from_slice(&l.as_bytes()[..end]);
        }
        for b in &self.bias {
            p.extend_from_slice(&b.to_le_bytes());
        }
        p.extend_from_slice(&(self.features.len() as u32).to_le_bytes());
        for (row, f) in self.features.iter().enumerate() {
            p.extend_from_slice(&f.to_le_bytes());
            p.extend_from_slice(&self.scales[row].to_le_bytes());
            p.extend(
                self.weights[row * k..(row + 1) * k]
                    .iter()
                    .map(|&q| q as u8),
            );
        }
        let mut out = Vec::with_capacity(p.len() + 42);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&p);
        out.extend_from_slice(&Sha256::digest(&p));
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ClassifyError> {
        let corrupt = |why: &str| ClassifyError::Corrupt(why.to_string());
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err(corrupt("not a helpdesk classifier model"));
        }
        let version = r.u16()?;
        if version != FORMAT_VERSION {
            return Err(ClassifyError::Corrupt(format!(
                "model format {version} is not supported (expected {FORMAT_VERSION})"
            )));
        }
        let len = r.u32()? as usize;
        let payload = r.take(len)?;
        let sum = r.take(32)?;
        if !r.0.is_empty() {
            return Err(corrupt("trailing bytes"));
        }
        if Sha256::digest(payload).as_slice() != sum {
            return Err(corrupt("checksum mismatch"));
        }
        let mut r = Reader(payload);
        let spec = FeatureSpec {
            hash_bits: r.u8()?,
            word_bigrams: match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(corrupt("bad feature flags")),
            },
            char_min: r.u8()?,
            char_max: r.u8()?,
        };
        if !spec.is_valid() {
            return Err(corrupt("feature settings out of range"));
        }
        let temperature = r.f32()?;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(corrupt("bad temperature"));
        }
        let k = usize::from(r.u16()?);
        if k < 2 {
            return Err(corrupt("fewer than two labels"));
        }
        let mut labels = Vec::with_capacity(k);
        for _ in 0..k {
            let n = usize::from(r.u16()?);
            let s = std::str::from_utf8(r.take(n)?).map_err(|_| corrupt("label is not UTF-8"))?;
            labels.push(s.to_string());
        }
        let mut bias = Vec::with_capacity(k);
        for _ in 0..k {
            let b = r.f32()?;
            if !b.is_finite() {
                return Err(corrupt("bad bias"));
            }
            bias.push(b);
        }
        let rows = r.u32()? as usize;
        // Check the size before allocating: a corrupt count must not reserve gigabytes.
        if r.0.len() != rows.saturating_mul(8 + k) {
            return Err(corrupt("weight rows do not match the payload size"));
        }
        let limit = 1u64 << spec.hash_bits;
        let mut features = Vec::with_capacity(rows);
        let mut scales = Vec::with_capacity(rows);
        let mut weights = Vec::with_capacity(rows * k);
        for _ in 0..rows {
            let f = r.u32()?;
            if u64::from(f) >= limit || features.last().is_some_and(|&last| last >= f) {
                return Err(corrupt("feature ids out of order or range"));
            }
            let s = r.f32()?;
            if !(s.is_finite() && s >= 0.0) {
                return Err(corrupt("bad row scale"));
            }
            features.push(f);
            scales.push(s);
            weights.extend(r.take(k)?.iter().map(|&b| b as i8));
        }
        Ok(Model {
            spec,
            labels,
            bias,
            temperature,
            features,
            scales,
            weights,
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ClassifyError> {
        if self.0.len() < n {
            return Err(ClassifyError::Corrupt("truncated".into()));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, ClassifyError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ClassifyError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ClassifyError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32(&mut self) -> Result<f32, ClassifyError> {
        Ok(f32::from_bits(self.u32()?))
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{train, TrainConfig};
    use crate::{ClassifyError, Model};

    fn model() -> Model {
        let ex = [
            ("charged twice refund", "billing"),
            ("invoice wrong amount", "billing"),
            ("cannot log in password", "login"),
            ("locked out of account", "login"),
        ];
        train(&ex, &TrainConfig::default()).expect("ok")
    }

    #[test]
    fn round_trips_exactly() {
        let m = model();
        let bytes = m.to_bytes();
        assert_eq!(Model::from_bytes(&bytes).expect("ok"), m);
    }

    #[test]
    fn refuses_every_single_byte_flip_and_truncation() {
        let bytes = model().to_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(
                matches!(Model::from_bytes(&b), Err(ClassifyError::Corrupt(_))),
                "flip at {i}"
            );
        }
        for n in 0..bytes.len() {
            assert!(Model::from_bytes(&bytes[..n]).is_err(), "truncated at {n}");
        }
    }
}
