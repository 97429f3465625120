//! Byte searches for the stream hot paths (SSE framing, the pass-through's JSON scan): the
//! byte-by-byte loops they replace were most of a relayed chunk's cost. Long two-byte searches
//! are `memchr`'s; short ones and the five-byte structural search are ours, eight bytes at a
//! time.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that equals `byte`. Bytes above a match may be flagged
/// falsely (borrows), the lowest flag never is: only the first match is used.
fn matches(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Where the first byte equal to `a` or `b` is (`memchr2`: vectorised where the CPU allows),
/// for searches that may run long (an SSE line, a whole answer).
pub(crate) fn find2(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    memchr::memchr2(a, b, bytes)
}

/// Where the first byte equal to `a` or `b` is, for searches that end within a few words (a
/// JSON string's end): `memchr2`'s setup costs more than the search there.
pub(crate) fn find2_near(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut words {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = matches(word, a) | matches(word, b);
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| byte == a || byte == b)
        .map(|at| offset + at)
}

/// Where the first `"`, `{`, `}`, `[` or `]` is (and perhaps, earlier, a control byte 0x02,
/// 0x1b or 0x1d, which valid JSON has only escaped: callers look at the byte found).
pub(crate) fn find_structural(bytes: &[u8]) -> Option<usize> {
    // Setting bit 5 maps `[` to `{`, `]` to `}` and leaves `"` alone.
    let fold = ONES * 0x20;
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut words {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word) | fold;
        let found = matches(word, b'"') | matches(word, b'{') | matches(word, b'}');
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| matches!(byte | 0x20, b'"' | b'{' | b'}'))
        .map(|at| offset + at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_search_agrees_with_the_plain_loop(
            haystack in prop::collection::vec(prop_oneof![Just(b'"'), Just(b'\\'), Just(b'['), Just(b'}'), Just(0x80u8), Just(0x7f), Just(0), any::<u8>()], 0..64),
            a in prop_oneof![Just(b'"'), Just(0x80u8), Just(0), any::<u8>()],
            b in prop_oneof![Just(b'\\'), Just(0x7fu8), any::<u8>()],
        ) {
            prop_assert_eq!(find2(&haystack, a, b), haystack.iter().position(|&x| x == a || x == b));
            prop_assert_eq!(find2_near(&haystack, a, b), haystack.iter().position(|&x| x == a || x == b));
            prop_assert_eq!(find_structural(&haystack), haystack.iter().position(|&x| matches!(x | 0x20, b'"' | b'{' | b'}')));
        }
    }
}
