"""Tool calling through the official SDK for every model family, streaming and not."""

import json
import os

import openai
import pytest

from weather_tools import WEATHER_TOOL, weather_conversation


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4.5", "gemini-2.5-pro"])
def test_weather_tool_conversation(client, model, stream):
    assert weather_conversation(client, model, stream) == "The tool said: 18C and sunny"


@pytest.mark.skipif(
    os.environ.get("ARGO_BRIDGE_UPSTREAM_API") == "native",
    reason="tools in the prompt are how Argo's resource endpoint serves Gemini; the native one takes them as tools",
)
def test_gemini_prompt_tool_call_streams_text_before_the_call(client):
    """The text before the tag streams as content; the tagged block becomes a tool call."""
    stream = client.chat.completions.create(
        model="gemini-2.5-flash",
        stream=True,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": '#mock {"tool_call": {"name": "get_weather", "arguments": {"city": "Rome"}}, "fragment_bytes": 3, "fragment_delay_ms": 0}'}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == "I will look that up."
    calls = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {"city": "Rome"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_malformed_tools_are_rejected_naming_the_field(client):
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            tools=[{"type": "function", "function": {"name": "bad name!"}}],
        )
    assert bad.value.body["param"] == "tools[0].function.name"
