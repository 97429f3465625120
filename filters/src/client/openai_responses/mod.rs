//! The OpenAI Responses client spoke: `POST /v1/responses` bodies (as Codex CLI and the
//! `openai` SDKs' `responses.create` send them) into a [`Conversation`]; [`Answer`]s out as a
//! `response` object, [`Event`]s as the Responses SSE event sequence ([`ResponsesEncoder`]).
//!
//! The gateway is stateless: everything that needs responses or prompts stored on the server
//! (`previous_response_id`, `store: true`, `background`, `conversation`, `prompt`, item
//! references) is refused with a 400 that says to send the whole conversation with
//! `store: false`, as Codex CLI does. Argo runs no hosted tools: web search tools are dropped
//! (the model is not offered search), the others (`file_search`, `code_interpreter`, ...) are
//! refused by name.
//!
//! `custom` tools (freeform input, maybe grammar-constrained: Codex's `apply_patch` for
//! gpt-5-family models) are offered to the model as functions taking one string `input`
//! ([`ClientTools`]); the model's calls of them go back as `custom_tool_call` items carrying
//! that string, and such items read back become calls with `{"input": ...}` arguments.
//!
//! Reasoning round-trips: thinking is written as a `reasoning` item whose summary is the
//! thinking text and whose `encrypted_content` is Anthropic's signature, so that a client
//! sending the item back (Codex does, with `include: ["reasoning.encrypted_content"]`) gives
//! Claude its signed thinking block again. Reasoning items read back become
//! [`Part::Thinking`]; upstreams drop unsigned thinking.
//!
//! `namespace` tools (Codex 0.171 groups its sub-agent tools in `multi_agent_v1`) are offered
//! flat, each grouped tool under its bare name when no other tool has it, else as
//! `namespace__name` ([`crate::tools::namespaces`]); the model's calls of them go back with the
//! tool's own `name` and its `namespace`, and such calls read back (and a `tool_choice` with a
//! `namespace`) name the tool as the model was offered it.
//!
//! What Codex CLI (0.171, `codex-rs`) sends, and what becomes of it here and on the
//! pass-through to Argo's `/v1/responses` (`upstream::responses_passthrough`):
//!
//! | Codex sends | Here (hub) | Pass-through |
//! |---|---|---|
//! | `function` tools | offered | as written |
//! | `custom` tools (`apply_patch`) | functions taking one string `input`; calls back as `custom_tool_call` | as written (over 4,096 characters of description: the hub) |
//! | `namespace` tools | flat, calls back with their `namespace` | flat alike |
//! | `web_search` | dropped: Argo runs no hosted tools | dropped |
//! | `tool_search` tool (on the models Codex knows, `gpt-5.5`; it finds the MCP tools Codex defers) | dropped ([`is_dropped_tool`]) | dropped |
//! | `local_shell` tool, `local_shell_call` items (for models whose metadata asks for them; not the Argo models, which Codex does not know) | refused, naming the type | the tool refused alike; items go as written, for Argo to answer |
//! | `tool_search_call`/`_output` and `additional_tools` items (deferred MCP tools; never made here, since the tool is dropped) | refused, naming the type | as written |
//! | `reasoning` items with `encrypted_content` | thinking, the content as Claude's signature | as written |
//! | `include: ["reasoning.encrypted_content"]`, `prompt_cache_key`, `client_metadata`, `reasoning.summary` | ignored (signatures always come back) | as written |
//! | `store: false`, `parallel_tool_calls`, `developer` messages | served | as written |
//!
//! [`Conversation`]: crate::hub::Conversation
//! [`Answer`]: crate::hub::Answer
//! [`Event`]: crate::hub::Event
//! [`Part::Thinking`]: crate::hub::Part::Thinking

mod answer;
mod encoder;
mod errors;
mod input;
mod items;
mod request;
mod stored;
#[cfg(test)]
pub(crate) mod tests;
mod tools;

pub use answer::answer_json;
pub use encoder::{encoder, failure_events, ResponsesEncoder};
pub use errors::error_json;
pub use request::read_request;
pub(crate) use stored::{StoredState, STATELESS};
pub use tools::ClientTools;
pub(crate) use tools::{is_dropped_tool, unserved_tool};
