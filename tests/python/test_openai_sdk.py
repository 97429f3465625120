"""The official OpenAI Python SDK against argo-bridge in front of the mock Argo."""

import json

import openai
import pytest


def test_lists_and_retrieves_models(client):
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o", "claude-sonnet-4.5", "gemini-2.5-pro", "text-embedding-3-small"} <= ids
    assert client.models.retrieve("argo:gpt-4o").id == "gpt-4o"


def test_chat_completion(client):
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello from mock Argo (gpt4o). You said: Hello!"
    assert choice.finish_reason == "stop"
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert completion.usage.completion_tokens > 0


def test_chat_user_is_the_mapped_lab_user(client):
    completion = client.chat.completions.create(
        model="claude-sonnet-4.5",
        user="someone-else",
        messages=[{"role": "user", "content": '#mock {"echo_request": true}'}],
    )
    echoed = json.loads(completion.choices[0].message.content)
    # The native endpoints echo the whole request (headers too), the resource ones its body.
    seen = echoed.get("body", echoed)
    assert seen["user"] == "alice"
    assert seen["model"] == "claudesonnet45"


def test_legacy_completion(client):
    completion = client.completions.create(model="gpt-4o", prompt="Say hi")
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Hello from mock Argo (gpt4o). You said: Say hi"


def test_embeddings_default_base64_and_float(client):
    # The SDK asks for base64 by default and decodes it itself.
    default = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"])
    assert len(default.data) == 2 and len(default.data[0].embedding) == 1536
    floats = client.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta"], encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(default.data[0].embedding)
    assert floats.data[0].embedding != floats.data[1].embedding


def test_errors_surface_as_sdk_exceptions(client, stack):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "x"}])
    assert missing.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], temperature=7)
    assert bad.value.body["param"] == "temperature"
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": '#mock {"status": 429}'}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=stack.base_url, api_key="not-a-token", max_retries=0).models.list()


def collect(stream):
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def test_streaming_chat_with_usage(client):
    stream = client.chat.completions.create(
        model="gpt-4o",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": '#mock {"reply": "Streamed ünïcode ✓", "fragment_bytes": 3, "fragment_delay_ms": 1}'}],
    )
    chunks, text = collect(stream)
    assert text == "Streamed ünïcode ✓"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_streaming_first_delta_arrives_before_the_upstream_finishes():
    import urllib.request

    from conftest import TOKEN, Stack

    own = Stack()  # its own mock, so the fragment count is this test's alone
    try:
        client = openai.OpenAI(base_url=own.base_url, api_key=TOKEN, max_retries=0)
        stream = client.chat.completions.create(
            model="gemini-2.5-flash",
            stream=True,
            messages=[{"role": "user", "content": '#mock {"fragments": ["one ", "two"], "fragment_delay_ms": 3000}'}],
        )
        first = next(c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content)
        assert first == "one "
        stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{own.mock_port}/__mock/stats"))
        assert stats["fragments_sent"] == 1, "the second fragment is still 3 s away"
        stream.close()
    finally:
        own.close()


def test_streaming_error_mid_stream_raises(client):
    stream = client.chat.completions.create(
        model="gpt-4o",
        stream=True,
        messages=[{"role": "user", "content": '#mock {"reply": "abcdef", "fragment_bytes": 2, "fragment_delay_ms": 0, "cut_after": 1}'}],
    )
    with pytest.raises(openai.APIError) as failure:
        collect(stream)
    assert "Argo" in str(failure.value)


def test_streaming_legacy_completion(client):
    stream = client.completions.create(model="gpt-4o", prompt="Count", stream=True)
    text = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    assert text == "Hello from mock Argo (gpt4o). You said: Count"


@pytest.mark.parametrize("model", ["gpt-4o", "gemini-2.5-flash"])
def test_a_developer_message_reaches_argo_as_system(client, model):
    """Codex CLI sends its base prompt as a `developer` message, which Argo's chat endpoint
    answers with a misleading 400 (argo-api.md §C): Argo gets it as `system`, and the
    `User-Agent` names the SDK after the gateway."""
    completion = client.chat.completions.create(
        model=model,
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": '#mock {"echo_request": true}'}],
    )
    echoed = json.loads(completion.choices[0].message.content)
    seen = echoed.get("body", echoed)
    roles = [message.get("role") for message in seen.get("messages", [])]
    assert "developer" not in roles, roles
    if "headers" in echoed:  # the native endpoints echo the headers too
        assert roles[0] == "system", roles
        agent = echoed["headers"]["user-agent"]
        assert agent.startswith("argo-bridge/") and "(OpenAI/Python " in agent, agent
