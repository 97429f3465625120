"""The weather-tool conversation (call -> result -> final answer) with the official OpenAI SDK.

Runs against any argo-bridge; with the built-in mock Argo (`argo-bridge demo`) the `#mock`
directive makes the mock play a tool-calling model:

    python3 tests/python/weather_tools.py --base-url http://127.0.0.1:8080/v1 --api-key demo-token
"""

import argparse
import json

from openai import OpenAI

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
QUESTION = 'What is the weather in Paris? #mock {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris"}}}'
TOOL_RESULT = "18C and sunny"


def ask(client, model, messages, stream):
    """One turn; returns (content, tool_calls as plain dicts, finish_reason)."""
    kwargs = dict(model=model, messages=messages, tools=[WEATHER_TOOL])
    if not stream:
        choice = client.chat.completions.create(**kwargs).choices[0]
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in choice.message.tool_calls or []
        ]
        return choice.message.content, calls, choice.finish_reason
    content, calls, finish = "", {}, None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        content += delta.content or ""
        for piece in delta.tool_calls or []:
            call = calls.setdefault(piece.index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
            call["id"] = piece.id or call["id"]
            if piece.function:
                call["function"]["name"] += piece.function.name or ""
                call["function"]["arguments"] += piece.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    return content or None, [calls[i] for i in sorted(calls)], finish


def weather_conversation(client, model, stream):
    """Runs the loop, checking each step; returns the final answer."""
    messages = [{"role": "user", "content": QUESTION}]
    content, calls, finish = ask(client, model, messages, stream)
    assert finish == "tool_calls", (model, stream, finish, content)
    assert len(calls) == 1 and calls[0]["id"], calls
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    messages.append({"role": "assistant", "content": content, "tool_calls": calls})
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": TOOL_RESULT})
    content, calls, finish = ask(client, model, messages, stream)
    assert finish == "stop" and calls == [], (model, stream, finish, calls)
    assert TOOL_RESULT in content, content
    return content


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--api-key", default="demo-token")
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    for model in ("gpt-4o", "claude-sonnet-4.5", "gemini-2.5-pro"):
        for stream in (False, True):
            answer = weather_conversation(client, model, stream)
            print(f"{model:18} stream={stream!s:5} ok: {answer}")


if __name__ == "__main__":
    main()
