//! G.711 µ-law (ITU-T G.711 Table 2a).
//!
//! G.711 defines the law on 14-bit uniform PCM. A 16-bit sample is first rounded to 14 bits
//! (to nearest, ties upward, saturating at the top: half the error of plain truncation, and
//! the same reduction sox performs). Then the law works on 14-bit magnitudes: the sample (its top 14 bits) is biased by 33, the
//! segment is the position of the highest set bit above bit 5, the four bits below it are the
//! mantissa, and the code is the inverted sign, segment and mantissa. Decoding inverts this
//! and reconstructs the middle of the quantisation interval.

/// Bias added to the 14-bit magnitude before finding the segment (G.711 §3.2: 33).
const BIAS: i32 = 33;
/// Largest 14-bit magnitude that still fits the top segment once biased.
const CLIP: i32 = 8159;

/// Encodes one 14-bit sample (the top 14 bits of a 16-bit sample).
const fn encode_14(sample: i32) -> u8 {
    let (magnitude, mask) = if sample < 0 {
        (-sample, 0x7F)
    } else {
        (sample, 0xFF)
    };
    let magnitude = if magnitude > CLIP { CLIP } else { magnitude } + BIAS;
    // Segment 0 holds magnitudes below 64 once biased, each next segment doubles the range.
    let mut segment = 0;
    while segment < 8 && magnitude > (0x40 << segment) - 1 {
        segment += 1;
    }
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let code = ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) as u8;
    code ^ mask
}

const fn build_encode_table() -> [u8; 1 << 14] {
    let mut table = [0u8; 1 << 14];
    let mut index = 0;
    while index < (1 << 14) {
        // The index is the 14-bit two's complement sample; sign-extend it.
        let sample = ((index as i32) << 18) >> 18;
        table[index] = encode_14(sample);
        index += 1;
    }
    table
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let inverted = !(code as u8) as i32;
        let mantissa = inverted & 0x0F;
        let segment = (inverted >> 4) & 0x07;
        // Middle of the interval, in 16-bit units: ((2m + 33) << segment) - 33, times four.
        let magnitude = (((mantissa << 3) + (BIAS << 2)) << segment) - (BIAS << 2);
        table[code] = if inverted & 0x80 != 0 {
            -magnitude as i16
        } else {
            magnitude as i16
        };
        code += 1;
    }
    table
}

static ENCODE: [u8; 1 << 14] = build_encode_table();

/// Code to linear sample, for all 256 codes.
pub static DECODE: [i16; 256] = build_decode_table();

/// Compresses one linear sample.
#[inline]
pub fn encode(sample: i16) -> u8 {
    let rounded = ((sample as i32 + 2) >> 2).min(0x1FFF);
    ENCODE[(rounded as u16 & 0x3FFF) as usize]
}

/// Expands one code.
#[inline]
pub fn decode(code: u8) -> i16 {
    DECODE[code as usize]
}
