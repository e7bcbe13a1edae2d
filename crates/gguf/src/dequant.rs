//! Dequantisation of ggml block formats to `f32`.
//!
//! ```text
//! Q8_0  block of 32: f16 d, 32 x i8 q                  x = d * q
//! Q4_0  block of 32: f16 d, 16 bytes of nibbles        x = d * (q - 8)
//! Q4_1  block of 32: f16 d, f16 m, 16 bytes            x = d * q + m
//!       (low nibbles are elements 0..16, high nibbles 16..32)
//! Q4_K  super-block of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
//!       8 sub-blocks of 32: x = d * sc_j * q - dmin * m_j
//! Q6_K  super-block of 256: 128 bytes low 4 bits, 64 bytes high 2 bits, 16 x i8 scales, f16 d
//!       16 sub-blocks of 16: x = d * sc_j * (q - 32)
//! ```

use half::{bf16, f16};

use crate::GgmlType;

/// Dequantises `numel` elements stored as `ty` in `bytes`.
///
/// Returns `None` for unsupported types or when `bytes` has the wrong length for `numel`.
pub fn dequantize(ty: GgmlType, bytes: &[u8], numel: usize) -> Option<Vec<f32>> {
    let (block, bytes_per_block) = ty.block_layout()?;
    if !numel.is_multiple_of(block) || bytes.len() != numel / block * bytes_per_block {
        return None;
    }
    let mut out = vec![0f32; numel];
    let blocks = bytes
        .chunks_exact(bytes_per_block)
        .zip(out.chunks_exact_mut(block));
    match ty {
        GgmlType::F32 => {
            blocks.for_each(|(b, o)| o[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        GgmlType::F16 => blocks.for_each(|(b, o)| o[0] = f16_at(b, 0)),
        GgmlType::BF16 => blocks
            .for_each(|(b, o)| o[0] = bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()),
        GgmlType::Q8_0 => blocks.for_each(|(b, o)| {
            let d = f16_at(b, 0);
            for (x, &q) in o.iter_mut().zip(&b[2..34]) {
                *x = d * f32::from(q as i8);
            }
        }),
        GgmlType::Q4_0 => blocks.for_each(|(b, o)| {
            let d = f16_at(b, 0);
            for (i, &q) in b[2..18].iter().enumerate() {
                o[i] = d * (f32::from(q & 0x0f) - 8.0);
                o[i + 16] = d * (f32::from(q >> 4) - 8.0);
            }
        }),
        GgmlType::Q4_1 => blocks.for_each(|(b, o)| {
            let (d, m) = (f16_at(b, 0), f16_at(b, 2));
            for (i, &q) in b[4..20].iter().enumerate() {
                o[i] = d * f32::from(q & 0x0f) + m;
                o[i + 16] = d * f32::from(q >> 4) + m;
            }
        }),
        GgmlType::Q4K => blocks.for_each(|(b, o)| q4_k_block(b, o)),
        GgmlType::Q6K => blocks.for_each(|(b, o)| q6_k_block(b, o)),
        GgmlType::Other(_) => return None,
    }
    Some(out)
}

fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[at], b[at + 1]])).to_f32()
}

/// The 6-bit scale and min of sub-block `j` (0..8) packed in Q4_K's 12 scale bytes.
fn scale_min_k4(j: usize, s: &[u8]) -> (f32, f32) {
    let (sc, m) = if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        (
            (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4),
            (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
        )
    };
    (f32::from(sc), f32::from(m))
}

fn q4_k_block(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    // Four groups of 64 outputs; each reads 32 bytes: low nibbles, then high nibbles.
    for g in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * g, scales);
        let (sc2, m2) = scale_min_k4(2 * g + 1, scales);
        let q = &qs[32 * g..32 * g + 32];
        let o = &mut out[64 * g..64 * g + 64];
        for l in 0..32 {
            o[l] = d * sc1 * f32::from(q[l] & 0x0f) - dmin * m1;
            o[l + 32] = d * sc2 * f32::from(q[l] >> 4) - dmin * m2;
        }
    }
}

fn q6_k_block(b: &[u8], out: &mut [f32]) {
    let ql_all = &b[0..128];
    let qh_all = &b[128..192];
    let sc_all = &b[192..208];
    let d = f16_at(b, 208);
    // Two halves of 128 outputs; each uses 64 bytes of ql, 32 of qh and 8 scales.
    for h in 0..2 {
        let ql = &ql_all[64 * h..64 * h + 64];
        let qh = &qh_all[32 * h..32 * h + 32];
        let sc = &sc_all[8 * h..8 * h + 8];
        let o = &mut out[128 * h..128 * h + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = i32::from((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
            let q2 = i32::from((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
            let q3 = i32::from((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            let q4 = i32::from((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            let s = |k: usize| d * f32::from(sc[is + k] as i8);
            o[l] = s(0) * q1 as f32;
            o[l + 32] = s(2) * q2 as f32;
            o[l + 64] = s(4) * q3 as f32;
            o[l + 96] = s(6) * q4 as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16_bytes(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_bits().to_le_bytes()
    }

    #[test]
    fn q8_0_scales_signed_bytes() {
        let mut b = f16_bytes(0.5).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let x = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert_eq!(x[0], -8.0);
        assert_eq!(x[31], 7.5);
    }

    #[test]
    fn q4_0_puts_low_nibbles_first_and_centres_on_eight() {
        let mut b = f16_bytes(2.0).to_vec();
        b.extend(std::iter::repeat_n(0x9f_u8, 16)); // low nibble 15, high nibble 9
        let x = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
        assert_eq!(x[0], 14.0);
        assert_eq!(x[16], 2.0);
    }

    #[test]
    fn q4_1_adds_the_block_minimum() {
        let mut b = f16_bytes(0.25).to_vec();
        b.extend(f16_bytes(-1.0));
        b.extend(std::iter::repeat_n(0x40_u8, 16)); // low 0, high 4
        let x = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        assert_eq!(x[3], -1.0);
        assert_eq!(x[20], 0.0);
    }

    #[test]
    fn wrong_byte_length_is_refused() {
        assert!(dequantize(GgmlType::Q8_0, &[0u8; 33], 32).is_none());
        assert!(dequantize(GgmlType::F32, &[0u8; 8], 3).is_none());
        assert!(dequantize(GgmlType::Other(7), &[0u8; 22], 32).is_none());
    }
}
