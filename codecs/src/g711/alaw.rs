//! G.711 A-law (ITU-T G.711 Table 1a).
//!
//! G.711 defines the law on 13-bit uniform PCM. A 16-bit sample is first rounded to 13 bits
//! (to nearest, ties upward, saturating at the top, as sox does). Then the law works on 13-bit
//! magnitudes: segment 0 and 1 are linear with a step of 2 (in 13-bit
//! units), each following segment doubles the step. Even bits of the code are inverted
//! (XOR 0x55) for transmission, and the sign bit is set for positive samples.

/// Encodes one 13-bit sample (the top 13 bits of a 16-bit sample).
const fn encode_13(sample: i32) -> u8 {
    // Negative samples are coded by their one's complement magnitude (G.711 Table 1a).
    let (magnitude, mask) = if sample >= 0 {
        (sample, 0xD5)
    } else {
        (-sample - 1, 0x55)
    };
    let mut segment = 0;
    while segment < 8 && magnitude > (0x20 << segment) - 1 {
        segment += 1;
    }
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let shift = if segment < 2 { 1 } else { segment };
    let code = ((segment << 4) | ((magnitude >> shift) & 0x0F)) as u8;
    code ^ mask
}

const fn build_encode_table() -> [u8; 1 << 13] {
    let mut table = [0u8; 1 << 13];
    let mut index = 0;
    while index < (1 << 13) {
        let sample = ((index as i32) << 19) >> 19;
        table[index] = encode_13(sample);
        index += 1;
    }
    table
}

const fn build_decode_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        let a = (code as u8 ^ 0x55) as i32;
        let mantissa = (a & 0x0F) << 4;
        let segment = (a >> 4) & 0x07;
        // Middle of the interval, in 16-bit units.
        let magnitude = match segment {
            0 => mantissa + 8,
            _ => (mantissa + 0x108) << (segment - 1),
        };
        table[code] = if a & 0x80 != 0 {
            magnitude as i16
        } else {
            -magnitude as i16
        };
        code += 1;
    }
    table
}

static ENCODE: [u8; 1 << 13] = build_encode_table();

/// Code to linear sample, for all 256 codes.
pub static DECODE: [i16; 256] = build_decode_table();

/// Compresses one linear sample.
#[inline]
pub fn encode(sample: i16) -> u8 {
    let rounded = ((sample as i32 + 4) >> 3).min(0x0FFF);
    ENCODE[(rounded as u16 & 0x1FFF) as usize]
}

/// Expands one code.
#[inline]
pub fn decode(code: u8) -> i16 {
    DECODE[code as usize]
}
