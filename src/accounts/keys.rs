//! Issued keys: how one is made (random, 190 bits, a recognisable prefix), what is kept of it
//! (its SHA-256), and the in-memory ring that authenticates requests with them. Requests never
//! wait on the store: the ring is read again in the background every
//! `accounts.refresh_interval_ms`, and keeps the last keys it read while the store is down.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rand::Rng;

use super::store::KeyRecord;

/// What every issued key starts with: a key pasted somewhere is recognisable (secret scanners,
/// a reader of a leaked file), and the gateway tells a key from a configured token.
pub const KEY_PREFIX: &str = "abk-";
const KEY_RANDOM_CHARS: usize = 32;
const ID_PREFIX: &str = "key_";
const ID_RANDOM_CHARS: usize = 12;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Longest `--name` of a key.
pub const MAX_KEY_NAME: usize = 64;

/// `chars` random base-62 characters, from the operating system's generator.
pub fn random_text(chars: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..chars)
        .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
        .collect()
}

/// A new key (shown once) and its public id: 32 base-62 characters are 190 random bits.
pub fn new_key() -> (String, String) {
    (
        format!("{KEY_PREFIX}{}", random_text(KEY_RANDOM_CHARS)),
        format!("{ID_PREFIX}{}", random_text(ID_RANDOM_CHARS)),
    )
}

/// A key's SHA-256.
fn digest(key: &[u8]) -> [u8; 32] {
    let mut digest = [0; 32];
    digest.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, key).as_ref());
    digest
}

/// What the store keeps of a key: its SHA-256, in hex.
pub fn hash_key(key: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(64);
    for byte in digest(key) {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 15)]));
    }
    hex
}

/// The digest a stored hash (64 hex digits) stands for.
fn digest_of_hash(hash: &str) -> Option<[u8; 32]> {
    let hex = hash.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).and_then(|n| u8::try_from(n).ok());
    let mut digest = [0; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(digest)
}

/// Whether `token` is shaped as an issued key (prefix, length, alphabet): anything else is not
/// looked up.
pub fn looks_like_key(token: &[u8]) -> bool {
    token.len() == KEY_PREFIX.len() + KEY_RANDOM_CHARS
        && token.starts_with(KEY_PREFIX.as_bytes())
        && token[KEY_PREFIX.len()..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
}

/// A new key for `user` (a plain lab username) named `name` (short, printable), valid for
/// `expires` (a duration, see [`parse_duration`]) from `now`: the key, shown once, and what the
/// store keeps of it.
pub fn issue(
    user: &str,
    name: &str,
    expires: Option<&str>,
    now: i64,
) -> Result<(String, KeyRecord), String> {
    if !crate::config::is_username(user) {
        return Err(
            "user: must be a lab username (1-64 letters, digits, `.`, `_`, `-`, `@`)".into(),
        );
    }
    if name.chars().count() > MAX_KEY_NAME || name.chars().any(char::is_control) {
        return Err(format!(
            "name: at most {MAX_KEY_NAME} characters, none of them control characters"
        ));
    }
    let expires_at = expires
        .map(|text| parse_duration(text).map(|seconds| now + seconds))
        .transpose()
        .map_err(|e| format!("expires: {e}"))?;
    let (key, id) = new_key();
    let record = KeyRecord {
        id,
        user: user.to_string(),
        name: name.to_string(),
        hash: hash_key(key.as_bytes()),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
    };
    Ok((key, record))
}

/// A `--expires` duration: `90d`, `12h`, `30m` or `3600s`, in seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "`{text}` is not a duration like 90d, 12h, 30m or 3600s"
            ))
        }
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=36_500 * 86_400 / scale).contains(n))
        .map(|n| n * scale)
        .ok_or_else(|| format!("`{text}` is not a duration like 90d, 12h, 30m or 3600s"))
}

/// A key the ring accepts: whose it is, and until when.
#[derive(Debug, Clone)]
pub struct KeyHolder {
    pub id: Arc<str>,
    pub user: Arc<str>,
    pub expires_at: Option<i64>,
}

/// The keys that authenticate now, by digest; swapped whole by each refresh.
#[derive(Default)]
pub struct KeyRing {
    keys: ArcSwap<HashMap<[u8; 32], KeyHolder>>,
}

impl KeyRing {
    /// Replaces the ring with `live` (the store's unrevoked, unexpired keys).
    pub fn replace(&self, live: Vec<KeyRecord>) {
        let keys = live
            .into_iter()
            .filter_map(|key| {
                let holder = KeyHolder {
                    id: key.id.into(),
                    user: key.user.into(),
                    expires_at: key.expires_at,
                };
                Some((digest_of_hash(&key.hash)?, holder))
            })
            .collect();
        self.keys.store(Arc::new(keys));
    }

    pub fn len(&self) -> usize {
        self.keys.load().len()
    }

    /// The holder of `token` at `now`, when it is a live key.
    pub fn holder(&self, token: &[u8], now: i64) -> Option<KeyHolder> {
        if !looks_like_key(token) {
            return None;
        }
        let keys = self.keys.load();
        let holder = keys.get(&digest(token))?;
        match holder.expires_at {
            Some(expiry) if expiry <= now => None,
            _ => Some(holder.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, id: &str, user: &str, expires_at: Option<i64>) -> KeyRecord {
        KeyRecord {
            id: id.into(),
            user: user.into(),
            name: String::new(),
            hash: hash_key(key.as_bytes()),
            created_at: 0,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        }
    }

    #[test]
    fn a_new_key_has_the_prefix_and_190_random_bits_and_is_unique() {
        let (key, id) = new_key();
        assert!(looks_like_key(key.as_bytes()), "{key}");
        assert!(id.starts_with(ID_PREFIX) && id.len() == ID_PREFIX.len() + ID_RANDOM_CHARS);
        assert!((KEY_RANDOM_CHARS as f64) * 62f64.log2() >= 128.0);
        let more: std::collections::HashSet<String> = (0..1000).map(|_| new_key().0).collect();
        assert_eq!(more.len(), 1000);
    }

    #[test]
    fn only_a_hash_is_kept_and_it_is_sha256() {
        assert_eq!(
            hash_key(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_ring_knows_live_keys_and_refuses_expired_and_unknown_ones() {
        let (alice, _) = new_key();
        let (bob, _) = new_key();
        let ring = KeyRing::default();
        ring.replace(vec![
            record(&alice, "key_a", "alice", None),
            record(&bob, "key_b", "bob", Some(100)),
        ]);
        assert_eq!(
            ring.holder(alice.as_bytes(), 50).unwrap().user.as_ref(),
            "alice"
        );
        assert_eq!(
            ring.holder(bob.as_bytes(), 99).unwrap().user.as_ref(),
            "bob"
        );
        assert!(ring.holder(bob.as_bytes(), 100).is_none(), "expired");
        let (stranger, _) = new_key();
        assert!(ring.holder(stranger.as_bytes(), 0).is_none());
        assert!(ring.holder(b"abk-short", 0).is_none());
        ring.replace(vec![]);
        assert!(ring.holder(alice.as_bytes(), 50).is_none(), "revoked");
    }

    #[test]
    fn a_key_needs_a_plain_user_and_a_short_printable_name() {
        let (key, record) = issue("alice", "laptop", Some("1d"), 100).unwrap();
        assert_eq!(record.hash, hash_key(key.as_bytes()));
        assert_eq!(record.expires_at, Some(100 + 86_400));
        for (user, name) in [
            ("", "x"),
            ("a b", "x"),
            ("alice'; DROP TABLE keys; --", "x"),
            (&"u".repeat(65) as &str, "x"),
            ("alice", &"n".repeat(65) as &str),
            ("alice", "two\nlines"),
        ] {
            assert!(issue(user, name, None, 0).is_err(), "{user:?} {name:?}");
        }
        assert!(issue("alice", "", Some("soon"), 0).is_err());
    }

    #[test]
    fn durations_read_days_hours_minutes_and_seconds() {
        assert_eq!(parse_duration("90d"), Ok(90 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(12 * 3_600));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("3600s"), Ok(3_600));
        for bad in ["", "d", "0d", "-1d", "10", "10w", "99999999999d", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
