//! Request and response ids: `prefix-` and 24 hex digits, unique across threads, replicas and
//! restarts (not secret).

use std::cell::Cell;

use rand::Rng;

pub fn new_id(prefix: &str) -> String {
    let random = (u128::from(next_random()) << 64) | u128::from(next_random());
    id_of(prefix, random)
}

thread_local! {
    /// Each worker thread's id generator, seeded from the OS's entropy: ids must differ across
    /// threads, replicas and restarts, not be secret, so a cryptographic generator per id (a
    /// cost the profile of every request showed) is not needed.
    static ID_STATE: Cell<u64> = Cell::new(rand::thread_rng().gen());
}

/// The next number of the thread's wyrand sequence.
fn next_random() -> u64 {
    ID_STATE.with(|state| {
        let next = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(next);
        let product = u128::from(next) * u128::from(next ^ 0xe703_7ed1_a0b4_28db);
        ((product >> 64) as u64) ^ (product as u64)
    })
}

/// `prefix-` and the low 96 bits of `random` in 24 hex digits, written digit by digit (two ids
/// a request: `format!` showed in its profile).
fn id_of(prefix: &str, random: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const DIGITS: u32 = 24;
    let mut digits = [0u8; DIGITS as usize];
    for (place, digit) in digits.iter_mut().rev().zip(0..DIGITS) {
        *place = HEX[((random >> (4 * digit)) & 0xf) as usize];
    }
    let mut id = String::with_capacity(prefix.len() + 1 + digits.len());
    id.push_str(prefix);
    id.push('-');
    id.push_str(std::str::from_utf8(&digits).unwrap_or_default());
    id
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_the_low_96_bits_in_24_hex_digits() {
        for random in [
            0,
            1,
            0xabc,
            u128::MAX,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        ] {
            let expected = format!("req-{:024x}", random & ((1u128 << 96) - 1));
            assert_eq!(id_of("req", random), expected);
        }
        let ids: BTreeSet<String> = (0..10_000).map(|_| new_id("req")).collect();
        assert_eq!(ids.len(), 10_000);
        let other_thread = std::thread::spawn(|| new_id("req")).join().unwrap();
        assert!(!ids.contains(&other_thread));
    }
}
