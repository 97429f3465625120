"""The official `anthropic` SDK (as Claude Code and Kilo Code use the API) against argo-bridge's
`/v1/messages`, for a GPT, a Claude and a Gemini model: one answer, a stream, a tool loop."""

import anthropic
import pytest

from conftest import TOKEN
from weather_tools import QUESTION, TOOL_RESULT, WEATHER_TOOL

MODELS = ["gpt-4o", "claude-sonnet-4.5", "gemini-2.5-pro"]
WEATHER = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": WEATHER_TOOL["function"]["description"],
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


@pytest.fixture(scope="module")
def claude_client(stack):
    return anthropic.Anthropic(
        base_url=f"http://127.0.0.1:{stack.port}", api_key=TOKEN, max_retries=0, timeout=30
    )


def texts(message):
    return "".join(block.text for block in message.content if block.type == "text")


@pytest.mark.parametrize("model", MODELS)
def test_messages_create_answers_with_usage(claude_client, model):
    message = claude_client.messages.create(
        model=model,
        max_tokens=256,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == model
    assert "You said: Hello" in texts(message)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream_delivers_the_text_it_ends_with(claude_client, model):
    with claude_client.messages.stream(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "You said: Hello" in streamed
    assert texts(final) == streamed
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0


def ask(claude_client, model, messages, stream):
    kwargs = dict(model=model, max_tokens=512, tools=[WEATHER], messages=messages)
    if not stream:
        return claude_client.messages.create(**kwargs)
    with claude_client.messages.stream(**kwargs) as events:
        return events.get_final_message()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_tool_loop(claude_client, model, stream):
    messages = [{"role": "user", "content": QUESTION}]
    first = ask(claude_client, model, messages, stream)
    assert first.stop_reason == "tool_use", first
    calls = [block for block in first.content if block.type == "tool_use"]
    assert len(calls) == 1 and calls[0].id
    assert calls[0].name == "get_weather" and calls[0].input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [block.model_dump() for block in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": TOOL_RESULT}],
        }
    )
    second = ask(claude_client, model, messages, stream)
    assert second.stop_reason == "end_turn"
    assert TOOL_RESULT in texts(second), second


def test_count_tokens_counts_the_prompt(claude_client):
    short = claude_client.messages.count_tokens(
        model="claude-sonnet-4.5", messages=[{"role": "user", "content": "Hi"}]
    )
    long = claude_client.messages.count_tokens(
        model="claude-sonnet-4.5",
        messages=[{"role": "user", "content": "Hi " * 200}],
        tools=[WEATHER],
    )
    assert 0 < short.input_tokens < long.input_tokens


def test_errors_come_in_anthropics_shape(claude_client, stack):
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude_client.messages.create(
            model="no-such-model", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
        )
    assert missing.value.body["type"] == "error"
    assert missing.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in missing.value.body["error"]["message"]
    wrong_key = anthropic.Anthropic(
        base_url=f"http://127.0.0.1:{stack.port}", api_key="wrong-token", max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError) as refused:
        wrong_key.messages.create(
            model="claude-sonnet-4.5", max_tokens=16, messages=[{"role": "user", "content": "Hi"}]
        )
    assert refused.value.body["error"]["type"] == "authentication_error"
    # A server tool the hub cannot carry (Claude's requests pass through to Argo, which judges).
    with pytest.raises(anthropic.BadRequestError) as invalid:
        claude_client.messages.create(
            model="gpt-4o",
            max_tokens=16,
            messages=[{"role": "user", "content": "Hi"}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    assert invalid.value.body["error"]["type"] == "invalid_request_error"

