"""The official `openai` SDK's Responses API (as Codex CLI uses it) against argo-bridge's
`/v1/responses`, for a GPT, a Claude and a Gemini model: one answer, a stream, a function-call
loop with the whole input sent each turn (`store: false`), and the stateless refusals."""

import json

import openai
import pytest

from weather_tools import QUESTION, TOOL_RESULT, WEATHER_TOOL

MODELS = ["gpt-4o", "claude-sonnet-4.5", "gemini-2.5-pro"]
WEATHER = {"type": "function", **WEATHER_TOOL["function"]}


@pytest.mark.parametrize("model", MODELS)
def test_create_answers_with_output_text_and_usage(client, model):
    response = client.responses.create(model=model, input="Hello", instructions="Be terse.", store=False)
    assert response.object == "response" and response.status == "completed"
    assert response.model == model
    assert "You said: Hello" in response.output_text
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens


def test_a_developer_item_reaches_gemini_as_system(client):
    """Codex CLI's base prompt as a `developer` input item, on a Gemini model (the hub's native
    chat spoke): Argo's chat endpoint refuses `developer` (argo-api.md §C)."""
    response = client.responses.create(
        model="gemini-2.5-flash",
        store=False,
        input=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": '#mock {"echo_request": true}'},
        ],
    )
    echoed = json.loads(response.output_text)
    seen = echoed.get("body", echoed)
    roles = [message.get("role") for message in seen.get("messages", [])]
    assert "developer" not in roles, roles


@pytest.mark.parametrize("model", MODELS)
def test_stream_events_build_the_final_response(client, model):
    events = list(client.responses.create(model=model, input="Hello", stream=True, store=False))
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    assert [event.sequence_number for event in events] == list(range(len(events)))
    streamed = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert "You said: Hello" in streamed
    assert events[-1].response.output_text == streamed
    with client.responses.stream(model=model, input="Hello", store=False) as stream:
        final = stream.get_final_response()
    assert final.output_text == streamed


def ask(client, model, items, stream):
    kwargs = dict(model=model, input=items, tools=[WEATHER], store=False)
    if not stream:
        return client.responses.create(**kwargs)
    with client.responses.stream(**kwargs) as events:
        return events.get_final_response()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_function_call_loop(client, model, stream):
    items = [{"role": "user", "content": QUESTION}]
    first = ask(client, model, items, stream)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].call_id, first.output
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    items += [item.model_dump(exclude_none=True) for item in first.output]
    items.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": TOOL_RESULT})
    second = ask(client, model, items, stream)
    assert not [item for item in second.output if item.type == "function_call"]
    assert TOOL_RESULT in second.output_text, second.output


def test_stored_state_is_refused_with_a_reason(client):
    with pytest.raises(openai.BadRequestError) as chained:
        client.responses.create(model="gpt-4o", input="Hi", previous_response_id="resp_123")
    assert "previous_response_id" in chained.value.message
    with pytest.raises(openai.BadRequestError) as stored:
        client.responses.create(model="gpt-4o", input="Hi", store=True)
    assert "store" in stored.value.message
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-model", input="Hi", store=False)


PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hi \"there\"\n*** End Patch"
APPLY_PATCH = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files with a patch",
    "format": {"type": "grammar", "syntax": "lark", "definition": "start: /(.|\\n)+/"},
}


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["gpt-5", "claude-sonnet-4.5"])
def test_codex_turn_with_a_custom_tool_and_web_search(client, model, stream):
    """What Codex CLI sends for gpt-5-family models: `apply_patch` as a custom (freeform) tool
    and `web_search`, which the gateway cannot run and leaves out."""
    call = json.dumps({"tool_call": {"name": "apply_patch", "arguments": {"input": PATCH}}})
    kwargs = dict(
        model=model,
        input=[{"role": "user", "content": f"Add hello.txt #mock {call}"}],
        tools=[APPLY_PATCH, {"type": "web_search", "external_web_access": False}],
        store=False,
    )
    if stream:
        with client.responses.stream(**kwargs) as events:
            response = events.get_final_response()
    else:
        response = client.responses.create(**kwargs)
    calls = [item for item in response.output if item.type == "custom_tool_call"]
    assert len(calls) == 1, response.output
    assert calls[0].name == "apply_patch" and calls[0].input == PATCH
    items = kwargs["input"] + [item.model_dump(exclude_none=True) for item in response.output]
    items.append({"type": "custom_tool_call_output", "call_id": calls[0].call_id, "output": "Done"})
    final = client.responses.create(**{**kwargs, "input": items})
    assert "Done" in final.output_text
