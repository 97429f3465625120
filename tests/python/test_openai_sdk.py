"""The official OpenAI Python SDK against argo-bridge in front of the mock Argo."""

import json

import openai
import pytest


def test_lists_and_retrieves_models(client):
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "text-embedding-3-small"} <= ids
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
        model="claude-sonnet-4",
        user="someone-else",
        messages=[{"role": "user", "content": '#mock {"echo_request": true}'}],
    )
    seen = json.loads(completion.choices[0].message.content)
    assert seen["user"] == "alice"
    assert seen["model"] == "claudesonnet4"


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
