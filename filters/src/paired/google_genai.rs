//! The Gemini spoke paired with the upstreams: Argo's streams as Gemini responses.

use proptest::prelude::*;
use serde_json::json;

use crate::client::google_genai::tests::{
    check_stream, responses, thought_signature, translate, SignedThinking, Streamed,
};
use crate::client::google_genai::*;
use crate::fixtures::{split, sse_payloads, ANTHROPIC_STREAM, OPENAI_STREAM};
use crate::upstream::{anthropic, openai_native};

proptest! {
    #[test]
    fn claudes_stream_encodes_alike_however_split(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        array in any::<bool>(),
    ) {
        let framing = if array { Framing::JsonArray } else { Framing::Sse };
        let stream = ANTHROPIC_STREAM.as_bytes();
        let whole = translate(anthropic::SseDecoder::new(), framing, &[stream]);
        prop_assert_eq!(translate(anthropic::SseDecoder::new(), framing, &split(stream, &cuts)), whole);
    }

    #[test]
    fn openai_streams_encode_alike_however_split(
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        array in any::<bool>(),
    ) {
        let framing = if array { Framing::JsonArray } else { Framing::Sse };
        let stream = OPENAI_STREAM.as_bytes();
        let whole = translate(openai_native::SseDecoder::new(), framing, &[stream]);
        prop_assert_eq!(translate(openai_native::SseDecoder::new(), framing, &split(stream, &cuts)), whole);
    }
}
#[test]
fn claudes_stream_becomes_gemini_responses() {
    for framing in [Framing::Sse, Framing::JsonArray] {
        let out = translate(
            anthropic::SseDecoder::new(),
            framing,
            &[ANTHROPIC_STREAM.as_bytes()],
        );
        let responses = responses(&out, framing);
        let streamed = check_stream(&responses);
        assert_eq!(
            streamed,
            Streamed {
                text: "Let me check \"Paris\" 🌦️ for you.".into(),
                thoughts: "The user wants the weather.".into(),
                signed: vec![SignedThinking {
                    thinking: "The user wants the weather.".into(),
                    signature: "EvUBCl0IDRACGAIqQFpN".into()
                }],
                calls: vec![(
                    "toolu_vrtx_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    "get_weather".into(),
                    json!({"city": "Paris"})
                )],
                finish_reason: "STOP".into(),
                usage: json!({"promptTokenCount": 572, "candidatesTokenCount": 89,
                    "totalTokenCount": 661, "cachedContentTokenCount": 100}),
            }
        );
        assert_eq!(
            responses[1]["candidates"][0]["content"]["parts"][0]["thoughtSignature"],
            thought_signature("The user wants the weather.", "EvUBCl0IDRACGAIqQFpN"),
            "the signature rides on the first text after the thinking"
        );
        let last = responses.last().unwrap();
        assert_eq!(
            last["candidates"][0]["content"]["parts"],
            json!([{"text": ""}]),
            "the call went out as soon as its arguments closed"
        );
    }
}
#[test]
fn openai_streams_become_gemini_responses() {
    let out = translate(
        openai_native::SseDecoder::new(),
        Framing::Sse,
        &[OPENAI_STREAM.as_bytes()],
    );
    let streamed = check_stream(&sse_payloads(&out));
    assert_eq!(streamed.text, "Pong! 😊 \"quoted\"");
    assert_eq!(
        streamed.calls,
        [(
            "call_y0po4Ztyj41x7Led1gGoTCs1".into(),
            "get_weather".into(),
            json!({"city": "Paris"})
        )]
    );
    assert_eq!(streamed.usage["cachedContentTokenCount"], 128);
}
