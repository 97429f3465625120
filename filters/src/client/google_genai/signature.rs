//! Thought signatures: a signed thinking block carried to the client and back, opaque.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::fields::{lenient_base64, standard_base64};

/// What a `thoughtSignature` written by the gateway holds: a thinking block and the upstream
/// signature that vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SignedThinking {
    pub(crate) thinking: String,
    pub(crate) signature: String,
}

/// Opens every `thoughtSignature` the gateway writes, so that foreign ones are told apart.
const SIGNATURE_PREFIX: &[u8] = b"argo-bridge/thinking/1\n";

/// The `thoughtSignature` that carries `thinking` and its upstream `signature`: base64 (the
/// Python SDK decodes signatures as bytes), opaque to the client as Gemini's own are.
pub(crate) fn thought_signature(thinking: &str, signature: &str) -> String {
    let mut bytes = SIGNATURE_PREFIX.to_vec();
    let body = json!({"thinking": thinking, "signature": signature});
    bytes.extend_from_slice(body.to_string().as_bytes());
    STANDARD.encode(bytes)
}

/// The thinking a `thoughtSignature` of the gateway carries, in either base64 alphabet (the
/// Python SDK sends it back URL-safe); `None` for any other signature.
pub(super) fn open_thought_signature(signature: &str) -> Option<SignedThinking> {
    let bytes = lenient_base64()
        .decode(standard_base64(signature).as_bytes())
        .ok()?;
    let body = bytes.strip_prefix(SIGNATURE_PREFIX)?;
    serde_json::from_slice(body).ok()
}
