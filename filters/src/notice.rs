//! Argo's answer to a username it does not know: HTTP 200 with a text containing
//! `AUTHENTICATION NOTICE FROM ARGO` (in a chat answer, the first streamed fragments, or instead
//! of embeddings). It is not an answer; argo-proxy (`utils/misc.py`,
//! `contains_argo_auth_warning`, and `endpoints/dispatch.py`) turns it into a 403, matching the
//! phrase case-insensitively anywhere in a buffered answer or in the first streamed chunk. Its
//! recorded form opens with `⚠️ **IMPORTANT AUTHENTICATION NOTICE FROM ARGO** ⚠️`.

use crate::bytes::find2;
use crate::error::ErrorCode;
use crate::ApiError;

pub const MARKER: &str = "AUTHENTICATION NOTICE FROM ARGO";

/// How the notice opens a streamed answer (upper case, as recorded); while the text so far is
/// the start of one of these, a stream is held back so that nothing of a notice reaches the
/// client as content. Any other start is streamed at once.
const OPENINGS: [&str; 2] = [
    "⚠️ **IMPORTANT AUTHENTICATION NOTICE FROM ARGO",
    "**IMPORTANT AUTHENTICATION NOTICE FROM ARGO",
];

/// The notice replaces the whole answer, so only an answer's start is searched: a long answer
/// (a large embedding batch) costs nothing, and one that merely quotes the phrase late passes.
pub const SEARCHED_BYTES: usize = 4096;

/// Whether `answer` (a buffered body) carries the notice.
pub fn is_notice(answer: &[u8]) -> bool {
    let start = &answer[..answer.len().min(SEARCHED_BYTES)];
    contains_marker(start)
}

/// What the first bytes of a streamed answer say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// The notice: answer 403 instead of a stream.
    Notice,
    /// Not a notice: stream it.
    Answer,
    /// Too little to tell: wait for more.
    Undecided,
}

/// Classifies the first `bytes` of a stream: the notice when they contain it anywhere (as
/// argo-proxy checks the first chunk), undecided while they could still open with it.
pub fn stream_start(bytes: &[u8]) -> StreamStart {
    if is_notice(bytes) {
        return StreamStart::Notice;
    }
    let text = trim_start(bytes);
    let could_open = OPENINGS
        .iter()
        .any(|opening| opening.as_bytes().starts_with(text));
    if could_open {
        StreamStart::Undecided
    } else {
        StreamStart::Answer
    }
}

/// The error the client gets instead of the notice.
pub fn unregistered_user() -> ApiError {
    ApiError::new(
        403,
        "permission_denied",
        "Argo does not know the lab username your API key maps to. Register with Argo (or ask \
         the gateway operator to check which username your key maps to), then retry.",
    )
    .with_code(ErrorCode::UpstreamUserNotRegistered)
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Where [`MARKER`] has its `G`, a letter rare in text: the search jumps from one `g` or `G`
/// to the next and compares the marker only there (a buffered answer is searched twice, by
/// the gateway and by the answer's reader).
const ANCHOR: usize = 29;

fn contains_marker(haystack: &[u8]) -> bool {
    let marker = MARKER.as_bytes();
    let mut from = ANCHOR;
    while let Some(found) = haystack
        .get(from..)
        .and_then(|rest| find2(rest, b'G', b'g'))
    {
        let anchor = from + found;
        let start = anchor - ANCHOR;
        let window = haystack.get(start..start + marker.len());
        if window.is_some_and(|window| window.eq_ignore_ascii_case(marker)) {
            return true;
        }
        from = anchor + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const RECORDED: &str =
        "⚠️ **IMPORTANT AUTHENTICATION NOTICE FROM ARGO** ⚠️ Your username is not registered.";

    #[test]
    fn buffered_answers_are_checked_anywhere_case_insensitively() {
        assert!(is_notice(RECORDED.as_bytes()));
        assert!(is_notice(
            br#"{"response":"some text authentication notice from argo end"}"#
        ));
        assert!(!is_notice(b"Hello world"));
        assert!(!is_notice(b""));
        let late = format!("{}{RECORDED}", "x".repeat(SEARCHED_BYTES));
        assert!(
            !is_notice(late.as_bytes()),
            "only the start of an answer is searched"
        );
    }

    proptest! {
        #[test]
        fn the_search_agrees_with_a_plain_one(
            before in "[a-zA-Z gGoO]{0,60}",
            marker in "(?i)authentication notice from argo",
            after in "[a-zA-Z gGoO]{0,60}",
            insert in any::<bool>(),
        ) {
            let text = if insert { format!("{before}{marker}{after}") } else { format!("{before}{after}") };
            let plain = text.as_bytes().windows(MARKER.len()).any(|w| w.eq_ignore_ascii_case(MARKER.as_bytes()));
            prop_assert_eq!(is_notice(text.as_bytes()), plain);
        }
    }

    #[test]
    fn the_marker_is_found_at_any_offset_in_any_case_as_a_plain_search_finds_it() {
        assert_eq!(MARKER.as_bytes()[ANCHOR], b'G');
        let plain = |haystack: &[u8]| {
            haystack
                .windows(MARKER.len())
                .any(|window| window.eq_ignore_ascii_case(MARKER.as_bytes()))
        };
        let cases = [
            MARKER.to_string(),
            MARKER.to_lowercase(),
            "AuThEnTiCaTiOn NoTiCe FrOm ArGo".into(),
        ];
        for marker in &cases {
            for offset in 0..40 {
                for tail in ["", "g", " gg", "!"] {
                    let text = format!("{}{marker}{tail}", "g".repeat(offset));
                    assert!(is_notice(text.as_bytes()), "{text}");
                    let broken = text.replacen("ARGO", "ARG0", 1).replacen("argo", "arg0", 1);
                    let broken = broken.replacen("ArGo", "ArG0", 1);
                    assert_eq!(
                        is_notice(broken.as_bytes()),
                        plain(broken.as_bytes()),
                        "{broken}"
                    );
                    assert!(!is_notice(broken.as_bytes()), "{broken}");
                }
            }
        }
        assert!(!is_notice(b"AUTHENTICATION NOTICE FROM ARG"));
        assert!(!is_notice(b"G"));
    }

    #[test]
    fn a_stream_is_held_only_while_it_could_open_with_the_notice() {
        for split in 0..RECORDED.len() {
            let verdict = stream_start(&RECORDED.as_bytes()[..split]);
            let expected = if split >= RECORDED.find("ARGO").unwrap() + 4 {
                StreamStart::Notice
            } else {
                StreamStart::Undecided
            };
            assert_eq!(verdict, expected, "after {split} bytes");
        }
        assert_eq!(stream_start(b"Hel"), StreamStart::Answer);
        assert_eq!(stream_start(b"  "), StreamStart::Undecided);
        assert_eq!(stream_start(b"a"), StreamStart::Answer);
        assert_eq!(stream_start(b"**"), StreamStart::Undecided);
        assert_eq!(stream_start(b"**Important: "), StreamStart::Answer);
        assert_eq!(stream_start(b"**Summary**"), StreamStart::Answer);
        assert_eq!(
            stream_start(b"Note: authentication notice from Argo"),
            StreamStart::Notice,
            "anywhere in the first bytes"
        );
    }

    #[test]
    fn the_error_is_a_403_that_says_what_to_do() {
        let error = unregistered_user();
        assert_eq!(error.status, 403);
        assert!(error.message.contains("Register with Argo"));
    }
}
