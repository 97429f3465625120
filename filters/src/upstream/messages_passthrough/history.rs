//! Thinking blocks of the history that Argo refuses (empty, or without a signature) dropped.

use std::borrow::Cow;
use std::ops::Range;

use crate::upstream::passthrough::relay::string_at;
use crate::upstream::passthrough::{key_name, walk_array, walk_object};

/// The `messages` array without the thinking blocks Argo refuses in history (argo-api.md §C:
/// an empty `thinking`, a block without one, or without its signature: Argo does not sign
/// blocks); an assistant message left with no content goes too. Copied as written when there
/// is nothing to drop; `None` when it is not an array of objects.
pub(super) fn repaired_messages(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    let may_think = memchr::memmem::find(raw, b"thinking").is_some()
        || memchr::memmem::find(raw, b"\\u").is_some();
    if !may_think {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    out.push(b'[');
    let (mut valid, mut changed) = (true, false);
    let walked = walk_array(raw, |span| {
        let message = &raw[span];
        let Some(repaired) = repaired_message(message) else {
            valid = false;
            return;
        };
        changed |= !matches!(repaired, Some(Cow::Borrowed(_)));
        if let Some(message) = repaired {
            if out.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(&message);
        }
    });
    out.push(b']');
    match walked && valid {
        true if changed => Some(Cow::Owned(out)),
        true => Some(Cow::Borrowed(raw)),
        false => None,
    }
}

/// A message without its refused thinking blocks: `Some(None)` when it is an assistant
/// message with nothing else; `None` when it is not an object.
fn repaired_message(message: &[u8]) -> Option<Option<Cow<'_, [u8]>>> {
    let (mut role, mut content) = (None, None);
    let mut valid = true;
    let walked = walk_object(message, |key, span| match key_name(key).as_deref() {
        Some(b"role") => role = Some(span),
        Some(b"content") => content = Some(span),
        Some(_) => {}
        None => valid = false,
    });
    if !walked || !valid {
        return None;
    }
    let assistant =
        role.is_some_and(|span| string_at(&message[span]).as_deref() == Some("assistant"));
    let Some(content) = content.filter(|span| assistant && message[span.start] == b'[') else {
        return Some(Some(Cow::Borrowed(message)));
    };
    let blocks = &message[content.clone()];
    let mut kept: Vec<Range<usize>> = Vec::new();
    let mut dropped = false;
    if !walk_array(blocks, |span| {
        match refused_thinking(&blocks[span.clone()]) {
            true => dropped = true,
            false => kept.push(span),
        }
    }) {
        return None;
    }
    if !dropped {
        return Some(Some(Cow::Borrowed(message)));
    }
    if kept.is_empty() {
        return Some(None);
    }
    let mut out = Vec::with_capacity(message.len());
    out.extend_from_slice(&message[..content.start]);
    out.push(b'[');
    for (at, span) in kept.into_iter().enumerate() {
        if at > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&blocks[span]);
    }
    out.push(b']');
    out.extend_from_slice(&message[content.end..]);
    Some(Some(Cow::Owned(out)))
}

/// Whether a content block is a thinking block Argo refuses: its `thinking` missing, null or
/// blank, or its `signature` missing, null or empty.
fn refused_thinking(block: &[u8]) -> bool {
    let (mut kind, mut thinking, mut signature) = (None, None, None);
    let walked = walk_object(block, |key, span| match key_name(key).as_deref() {
        Some(b"type") => kind = Some(span),
        Some(b"thinking") => thinking = Some(span),
        Some(b"signature") => signature = Some(span),
        _ => {}
    });
    let is_thinking =
        kind.is_some_and(|span| string_at(&block[span]).as_deref() == Some("thinking"));
    if !walked || !is_thinking {
        return false;
    }
    let text = |span: Option<Range<usize>>| span.and_then(|span| string_at(&block[span]));
    let blank_thinking = match thinking.clone().map(|span| &block[span]) {
        None | Some(b"null") => true,
        Some(_) => text(thinking).is_some_and(|text| text.trim().is_empty()),
    };
    let unsigned = text(signature).is_none_or(|signature| signature.is_empty());
    blank_thinking || unsigned
}
