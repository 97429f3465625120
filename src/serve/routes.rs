//! The one route table: (listener, method, path) -> handler, for the API and admin listeners
//! alike. Each row names its client format, which decides the error envelope a request gets,
//! and its endpoint, the label of its metrics and access-log lines: the formats are listed
//! once, here, so a new handler cannot take OpenAI's envelope by default.

use argo_filters::error::truncate_for_message;
use argo_filters::ApiError;
use http::Method;

/// What answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `/`: the gateway's name, for clients that probe the base URL (Claude Code sends
    /// `HEAD /` at start).
    Root,
    Health,
    Ready,
    Metrics,
    /// Admin: read Argo's model lists now.
    RefreshModels,
    /// Admin: the accounts store's keys (`admin_keys`).
    ListKeys,
    CreateKey,
    RevokeKey,
    ListModels,
    GetModel,
    ChatCompletions,
    Completions,
    Embeddings,
    /// Anthropic Messages.
    Messages,
    CountTokens,
    /// OpenAI Responses.
    Responses,
    /// Google GenAI, model from the URL.
    GenerateContent,
    StreamGenerateContent,
    GoogleCountTokens,
}

/// The API a client speaks: its errors come in that API's envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFormat {
    OpenAi,
    Anthropic,
    Responses,
    Google,
}

impl ClientFormat {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            ClientFormat::OpenAi => "openai",
            ClientFormat::Anthropic => "anthropic",
            ClientFormat::Responses => "responses",
            ClientFormat::Google => "google",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Api,
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Delete,
}

#[derive(Debug, Clone, Copy)]
enum Pattern {
    Exact(&'static str),
    /// `/models/{id}`.
    ModelId,
    /// `/models/{model}:{action}` (Google's custom method syntax).
    ModelAction(&'static str),
    /// `/admin/keys/{id}`.
    KeyId,
}

/// One row of the table: what it matches, what answers, the client format whose envelope its
/// errors take and the endpoint label of its metrics and access-log lines, and which listeners
/// serve it. A handler keeps one format and one label over all its rows (a unit test checks).
struct Route {
    verb: Verb,
    pattern: Pattern,
    handler: Handler,
    format: ClientFormat,
    endpoint: &'static str,
    served: Served,
}

/// The listeners that serve a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    Api,
    Admin,
    Both,
}

impl Served {
    fn on(self, listener: Listener) -> bool {
        matches!(
            (self, listener),
            (Served::Both, _) | (Served::Api, Listener::Api) | (Served::Admin, Listener::Admin)
        )
    }
}

const fn route(
    verb: Verb,
    pattern: Pattern,
    handler: Handler,
    format: ClientFormat,
    endpoint: &'static str,
    served: Served,
) -> Route {
    Route {
        verb,
        pattern,
        handler,
        format,
        endpoint,
        served,
    }
}

use ClientFormat::{Anthropic, Google, OpenAi, Responses};
use Pattern::{Exact, KeyId, ModelAction, ModelId};
use Verb::{Delete, Get, Post};

/// Paths as they are after the version prefix (`/v1`, or `/v1beta` for Google) is taken off:
/// clients are configured with base URLs with and without it. The first row that matches a
/// path decides; the probes and `/metrics` answer in OpenAI's envelope.
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    route(Get,  Exact("/"),                              Handler::Root,                  OpenAi,    "root",             Served::Api),
    route(Get,  Exact("/health"),                        Handler::Health,                OpenAi,    "health",           Served::Both),
    route(Get,  Exact("/healthz"),                       Handler::Health,                OpenAi,    "health",           Served::Both),
    route(Get,  Exact("/ready"),                         Handler::Ready,                 OpenAi,    "ready",            Served::Both),
    route(Get,  Exact("/readyz"),                        Handler::Ready,                 OpenAi,    "ready",            Served::Both),
    route(Get,  Exact("/metrics"),                       Handler::Metrics,               OpenAi,    "metrics",          Served::Both),
    route(Post, Exact("/models/refresh"),                Handler::RefreshModels,         OpenAi,    "models_refresh",   Served::Admin),
    route(Get,  Exact("/admin/keys"),                    Handler::ListKeys,              OpenAi,    "admin_keys",       Served::Admin),
    route(Post, Exact("/admin/keys"),                    Handler::CreateKey,             OpenAi,    "admin_keys",       Served::Admin),
    route(Delete, KeyId,                                 Handler::RevokeKey,             OpenAi,    "admin_keys",       Served::Admin),
    route(Get,  Exact("/models"),                        Handler::ListModels,            OpenAi,    "models",           Served::Api),
    route(Post, ModelAction("generateContent"),          Handler::GenerateContent,       Google,    "generate_content", Served::Api),
    route(Post, ModelAction("streamGenerateContent"),    Handler::StreamGenerateContent, Google,    "generate_content", Served::Api),
    route(Post, ModelAction("countTokens"),              Handler::GoogleCountTokens,     Google,    "count_tokens",     Served::Api),
    route(Get,  ModelId,                                 Handler::GetModel,              OpenAi,    "models",           Served::Api),
    route(Post, Exact("/chat/completions"),              Handler::ChatCompletions,       OpenAi,    "chat",             Served::Api),
    // A path of the original Python bridge, for its clients.
    route(Post, Exact("/api/chat/completions"),          Handler::ChatCompletions,       OpenAi,    "chat",             Served::Api),
    route(Post, Exact("/completions"),                   Handler::Completions,           OpenAi,    "completions",      Served::Api),
    route(Post, Exact("/embeddings"),                    Handler::Embeddings,            OpenAi,    "embeddings",       Served::Api),
    route(Post, Exact("/messages"),                      Handler::Messages,              Anthropic, "messages",         Served::Api),
    route(Post, Exact("/messages/count_tokens"),         Handler::CountTokens,           Anthropic, "count_tokens",     Served::Api),
    route(Post, Exact("/responses"),                     Handler::Responses,             Responses, "responses",        Served::Api),
];

/// A request the table matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub handler: Handler,
    /// The row's client format: the envelope of the request's errors.
    pub format: ClientFormat,
    /// The row's endpoint label, of metrics and the access log.
    pub endpoint: &'static str,
    /// The model named by the path (`/models/{id}`, Google's `/models/{model}:action`), or on
    /// the admin port the key's id (`/admin/keys/{id}`), percent-decoded.
    pub model: Option<String>,
    /// A CORS preflight (`OPTIONS`) for this route.
    pub preflight: bool,
}

/// The route for a request. Unknown paths are 404, known paths with another method 405, in
/// the client format the path's prefix suggests: every miss under Google's `/v1beta` in
/// Google's, where a model action no route takes (`:embedContent`) is a method Google does not
/// have, 404.
pub fn find(listener: Listener, method: &Method, full_path: &str) -> Result<Matched, Unmatched> {
    let path = strip_version(full_path);
    let google = listener == Listener::Api && is_google(full_path);
    let mut known_path: Option<&Route> = None;
    for route in ROUTES {
        let served = route.served.on(listener);
        let Some(model) = served.then(|| route.pattern.matches(path)).flatten() else {
            continue;
        };
        let first = *known_path.get_or_insert(route);
        if google && route.handler == Handler::GetModel && first.handler != Handler::GetModel {
            // Google's `GET models/{model}:generateContent` is a wrong method, not a model.
            continue;
        }
        let preflight = *method == Method::OPTIONS && listener == Listener::Api;
        let allowed = match route.verb {
            Get => *method == Method::GET || *method == Method::HEAD,
            Post => *method == Method::POST,
            Delete => *method == Method::DELETE,
        };
        if allowed || preflight {
            return Ok(Matched {
                handler: route.handler,
                format: route.format,
                endpoint: route.endpoint,
                model,
                preflight,
            });
        }
    }
    let format = match google {
        true => ClientFormat::Google,
        false => known_path.map_or_else(|| format_of_path(path), |route| route.format),
    };
    let unknown_action = google
        && known_path.is_some_and(|route| route.handler == Handler::GetModel)
        && is_action(path);
    let error = match known_path {
        Some(_) if unknown_action => {
            ApiError::not_found(format!("Unknown path {}", truncate_for_message(full_path)))
        }
        Some(_) => ApiError::method_not_allowed(method_label(method), full_path),
        None if listener == Listener::Admin => ApiError::not_found(
            "The admin port serves /metrics, /health, /ready, POST /models/refresh and /admin/keys",
        ),
        None => ApiError::not_found(format!("Unknown path {}", truncate_for_message(full_path))),
    };
    Err(Unmatched {
        error: Box::new(error),
        format,
    })
}

/// A request no route takes, with the format its error is written in.
#[derive(Debug)]
pub struct Unmatched {
    pub error: Box<ApiError>,
    pub format: ClientFormat,
}

impl Pattern {
    /// `Some(the name the path carries: a model, or an admin key's id)` when the path matches.
    fn matches(self, path: &str) -> Option<Option<String>> {
        match self {
            Exact(exact) => (path == exact).then_some(None),
            ModelId => {
                let id = path.strip_prefix("/models/").filter(|id| !id.is_empty())?;
                Some(Some(percent_decode(id)))
            }
            ModelAction(action) => {
                let (model, named) = path.strip_prefix("/models/")?.rsplit_once(':')?;
                (named == action && !model.is_empty()).then(|| Some(percent_decode(model)))
            }
            KeyId => {
                let id = path
                    .strip_prefix("/admin/keys/")
                    .filter(|id| !id.is_empty())?;
                Some(Some(percent_decode(id)))
            }
        }
    }
}

fn strip_version(path: &str) -> &str {
    ["/v1beta", "/v1"]
        .into_iter()
        .find_map(|prefix| {
            path.strip_prefix(prefix)
                .filter(|rest| rest.starts_with('/'))
        })
        .unwrap_or(path)
}

/// A path under Google's version prefix: only Google's clients use it.
fn is_google(full_path: &str) -> bool {
    full_path
        .strip_prefix("/v1beta")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `/models/{model}:{action}`, Google's custom method syntax.
fn is_action(path: &str) -> bool {
    path.strip_prefix("/models/")
        .and_then(|rest| rest.rsplit_once(':'))
        .is_some_and(|(model, action)| !model.is_empty() && !action.is_empty())
}

/// For a path no route knows: the format its client most likely speaks.
fn format_of_path(path: &str) -> ClientFormat {
    if path.starts_with("/messages") {
        ClientFormat::Anthropic
    } else if path.starts_with("/responses") {
        ClientFormat::Responses
    } else if path.starts_with("/models/") && path.contains(':') {
        ClientFormat::Google
    } else {
        ClientFormat::OpenAi
    }
}

/// The method for logs and messages: the standard ones by name, anything else as `OTHER`, so
/// that a client cannot write what it likes (or megabytes of it) into them.
pub fn method_label(method: &Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method.as_str())
        .unwrap_or("OTHER")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(method: Method, path: &str) -> Result<Matched, Unmatched> {
        find(Listener::Api, &method, path)
    }

    fn handler(method: Method, path: &str) -> Handler {
        api(method, path).unwrap().handler
    }

    #[test]
    fn every_client_format_is_routed_with_and_without_its_version_prefix() {
        for prefix in ["", "/v1"] {
            let at = |path: &str| format!("{prefix}{path}");
            assert_eq!(
                handler(Method::POST, &at("/chat/completions")),
                Handler::ChatCompletions
            );
            assert_eq!(handler(Method::POST, &at("/messages")), Handler::Messages);
            assert_eq!(
                handler(Method::POST, &at("/messages/count_tokens")),
                Handler::CountTokens
            );
            assert_eq!(handler(Method::POST, &at("/responses")), Handler::Responses);
            assert_eq!(handler(Method::GET, &at("/models")), Handler::ListModels);
        }
        assert_eq!(
            handler(Method::POST, "/api/chat/completions"),
            Handler::ChatCompletions
        );
        for prefix in ["/v1beta", "/v1", ""] {
            let google = api(
                Method::POST,
                &format!("{prefix}/models/gemini-2.5-pro:streamGenerateContent"),
            )
            .unwrap();
            assert_eq!(google.handler, Handler::StreamGenerateContent);
            assert_eq!(google.model.as_deref(), Some("gemini-2.5-pro"));
        }
        assert_eq!(
            handler(Method::POST, "/v1beta/models/gemini25flash:generateContent"),
            Handler::GenerateContent
        );
        assert_eq!(
            handler(Method::POST, "/v1beta/models/gemini25flash:countTokens"),
            Handler::GoogleCountTokens
        );
    }

    #[test]
    fn a_model_path_is_a_model_lookup_unless_it_names_a_google_action() {
        let model = api(Method::GET, "/v1/models/gpt%2D4o").unwrap();
        assert_eq!(model.handler, Handler::GetModel);
        assert_eq!(model.model.as_deref(), Some("gpt-4o"));
        let unknown_action = api(Method::POST, "/v1beta/models/gemini:embedContent").unwrap_err();
        assert_eq!(unknown_action.error.status, 404);
        assert_eq!(unknown_action.format, ClientFormat::Google);
        assert_eq!(
            api(Method::POST, "/v1/models/:generateContent")
                .unwrap_err()
                .error
                .status,
            405
        );
    }

    #[test]
    fn unknown_paths_and_methods_are_refused_in_the_paths_format() {
        let unknown = api(Method::POST, "/v1/messages/batches").unwrap_err();
        assert_eq!(
            (unknown.error.status, unknown.format),
            (404, ClientFormat::Anthropic)
        );
        let wrong_method = api(Method::GET, "/v1/responses").unwrap_err();
        assert_eq!(
            (wrong_method.error.status, wrong_method.format),
            (405, ClientFormat::Responses)
        );
        assert_eq!(
            api(Method::DELETE, "/health").unwrap_err().error.status,
            405
        );
        assert_eq!(handler(Method::HEAD, "/health"), Handler::Health);
        assert_eq!(handler(Method::HEAD, "/"), Handler::Root);
        assert_eq!(handler(Method::GET, "/"), Handler::Root);
        let preflight = api(Method::OPTIONS, "/v1/messages").unwrap();
        assert!(preflight.preflight && preflight.handler == Handler::Messages);
        assert_eq!(
            api(Method::OPTIONS, "/nowhere").unwrap_err().error.status,
            404
        );
    }

    #[test]
    fn every_miss_under_googles_prefix_is_answered_in_googles_format() {
        for (method, path, status) in [
            (Method::POST, "/v1beta/tunedModels", 404),
            (Method::GET, "/v1beta", 404),
            (Method::GET, "/v1beta/models/gemini:generateContent", 405),
            (Method::DELETE, "/v1beta/models", 405),
            (
                Method::POST,
                "/v1beta/models/gemini:batchEmbedContents",
                404,
            ),
        ] {
            let miss = api(method.clone(), path).unwrap_err();
            assert_eq!(
                (miss.error.status, miss.format),
                (status, ClientFormat::Google),
                "{method} {path}"
            );
        }
        // Not Google's prefix: the path's own format, as before.
        let openai = api(Method::POST, "/v1/models/gpt-4o").unwrap_err();
        assert_eq!(
            (openai.error.status, openai.format),
            (405, ClientFormat::OpenAi)
        );
        assert_eq!(
            api(Method::POST, "/v1beta2/x").unwrap_err().format,
            ClientFormat::OpenAi
        );
    }

    #[test]
    fn each_listener_serves_only_its_routes() {
        let admin = |method: Method, path: &str| find(Listener::Admin, &method, path);
        assert_eq!(
            admin(Method::GET, "/metrics").unwrap().handler,
            Handler::Metrics
        );
        assert_eq!(
            admin(Method::POST, "/models/refresh").unwrap().handler,
            Handler::RefreshModels
        );
        assert_eq!(
            admin(Method::GET, "/ready").unwrap().handler,
            Handler::Ready
        );
        assert_eq!(
            admin(Method::POST, "/v1/chat/completions")
                .unwrap_err()
                .error
                .status,
            404
        );
        assert!(!admin(Method::OPTIONS, "/metrics").is_ok_and(|m| m.preflight));
        assert_eq!(
            api(Method::POST, "/models/refresh")
                .unwrap_err()
                .error
                .status,
            405
        );
    }

    #[test]
    fn every_route_names_its_endpoint_and_format() {
        let google = api(Method::POST, "/v1beta/models/gemini:generateContent").unwrap();
        assert_eq!(
            (google.format.label(), google.endpoint),
            ("google", "generate_content")
        );
        let count = api(Method::POST, "/v1/messages/count_tokens").unwrap();
        assert_eq!(
            (count.format, count.endpoint),
            (ClientFormat::Anthropic, "count_tokens")
        );
        let chat = api(Method::POST, "/api/chat/completions").unwrap();
        assert_eq!((chat.format, chat.endpoint), (ClientFormat::OpenAi, "chat"));
    }

    #[test]
    fn a_handler_keeps_one_format_and_one_label_over_its_rows() {
        for route in ROUTES {
            for other in ROUTES.iter().filter(|other| other.handler == route.handler) {
                assert_eq!(
                    (other.format, other.endpoint),
                    (route.format, route.endpoint),
                    "{:?}",
                    route.handler
                );
            }
        }
    }
}
