//! Messages without tool traffic, as the resource API takes them.

use crate::hub::Message;
use crate::upstream::chat_message::Message as WireMessage;
use crate::upstream::openai_native::{push_message, Style};

/// How the resource API takes OpenAI-shaped messages: `developer` as `system`, text parts
/// joined.
const STYLE: Style = Style {
    join_text: true,
    null_content: false,
};

/// Appends `message` as the resource API takes a message without tool traffic.
pub(crate) fn push_plain<'a>(out: &mut Vec<WireMessage<'a>>, message: &'a Message) {
    push_message(out, message, STYLE);
}
