//! What the gateway cannot serve because it stores nothing: request members that need
//! responses, conversations or prompts stored on the server, and the words that refuse them.

use crate::error::ApiError;

/// The gateway stores nothing, said with every refusal of stored state.
pub(crate) const STATELESS: &str = "This gateway is stateless: it stores no responses. Send the whole conversation in `input` each turn, with `store: false` (as Codex CLI does).";

/// Which members of a request ask for state stored on the server (each present and not null,
/// or `true`); the pass-through to Argo's own `/v1/responses` refuses them as the translation
/// does, since the client only ever sees the gateway's response ids.
#[derive(Debug, Default)]
pub(crate) struct StoredState {
    pub previous_response_id: bool,
    pub store: bool,
    pub background: bool,
    pub conversation: bool,
    pub prompt: bool,
}

impl StoredState {
    pub(crate) fn refuse(&self) -> Result<(), ApiError> {
        let request = self;
        let stored = [
        (
            request.previous_response_id,
            "previous_response_id",
            "`previous_response_id` refers to a stored response.",
        ),
        (
            request.store,
            "store",
            "`store: true` asks for the response to be stored.",
        ),
        (
            request.background,
            "background",
            "`background: true` needs a stored response to poll.",
        ),
        (
            request.conversation,
            "conversation",
            "`conversation` refers to a stored conversation.",
        ),
        (
            request.prompt,
            "prompt",
            "`prompt` refers to a prompt template stored on OpenAI's platform; send the instructions themselves.",
        ),
    ];
        match stored.into_iter().find(|(asked, ..)| *asked) {
            Some((_, param, why)) => Err(ApiError::invalid(param, format!("{why} {STATELESS}"))),
            None => Ok(()),
        }
    }
}
