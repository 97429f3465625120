"""The official `google-genai` SDK (as Gemini CLI uses the API) against argo-bridge's
`models/{model}:generateContent` and `:streamGenerateContent`, for a GPT, a Claude and a Gemini
model: one answer, a stream, a function-call loop."""

import pytest
from google import genai
from google.genai import errors, types

from conftest import TOKEN
from weather_tools import QUESTION, TOOL_RESULT, WEATHER_TOOL

MODELS = ["gpt-4o", "claude-sonnet-4.5", "gemini-2.5-pro"]
WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description=WEATHER_TOOL["function"]["description"],
            parameters=types.Schema(
                type="OBJECT",
                properties={"city": types.Schema(type="STRING")},
                required=["city"],
            ),
        )
    ]
)
MANUAL_CALLS = types.AutomaticFunctionCallingConfig(disable=True)


def google_client(stack, api_version=None, key=TOKEN):
    options = types.HttpOptions(base_url=f"http://127.0.0.1:{stack.port}", api_version=api_version)
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture(scope="module", params=["v1beta", None], ids=["v1beta", "default-version"])
def gemini_client(stack, request):
    return google_client(stack, request.param)


@pytest.mark.parametrize("model", MODELS)
def test_generate_content_answers_with_usage(gemini_client, model):
    response = gemini_client.models.generate_content(
        model=model,
        contents="Hello",
        config=types.GenerateContentConfig(system_instruction="Be terse.", max_output_tokens=256),
    )
    assert "You said: Hello" in response.text
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    assert usage.total_token_count >= usage.prompt_token_count + usage.candidates_token_count


@pytest.mark.parametrize("model", MODELS)
def test_stream_delivers_the_text_in_chunks(gemini_client, model):
    chunks = list(gemini_client.models.generate_content_stream(model=model, contents="Hello"))
    streamed = "".join(chunk.text or "" for chunk in chunks)
    assert "You said: Hello" in streamed
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0


def ask(gemini_client, model, contents, stream):
    config = types.GenerateContentConfig(tools=[WEATHER], automatic_function_calling=MANUAL_CALLS)
    if not stream:
        response = gemini_client.models.generate_content(model=model, contents=contents, config=config)
        return response.candidates[0].content
    parts = []
    for chunk in gemini_client.models.generate_content_stream(model=model, contents=contents, config=config):
        if chunk.candidates and chunk.candidates[0].content and chunk.candidates[0].content.parts:
            parts += chunk.candidates[0].content.parts
    return types.Content(role="model", parts=parts)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", MODELS)
def test_function_call_loop(gemini_client, model, stream):
    contents = [types.Content(role="user", parts=[types.Part(text=QUESTION)])]
    answer = ask(gemini_client, model, contents, stream)
    calls = [part.function_call for part in answer.parts if part.function_call]
    assert len(calls) == 1, answer
    assert calls[0].name == "get_weather" and calls[0].args == {"city": "Paris"}
    contents.append(answer)
    result = types.Part.from_function_response(name="get_weather", response={"result": TOOL_RESULT})
    contents.append(types.Content(role="user", parts=[result]))
    final = ask(gemini_client, model, contents, stream)
    assert not [part for part in final.parts if part.function_call]
    assert TOOL_RESULT in "".join(part.text or "" for part in final.parts), final


def test_errors_come_in_googles_shape(gemini_client, stack):
    with pytest.raises(errors.ClientError) as missing:
        gemini_client.models.generate_content(model="no-such-model", contents="Hi")
    assert missing.value.code == 404 and missing.value.status == "NOT_FOUND"
    wrong_key = google_client(stack, key="wrong-token")
    with pytest.raises(errors.ClientError) as refused:
        wrong_key.models.generate_content(model="gemini-2.5-pro", contents="Hi")
    assert refused.value.code == 401 and refused.value.status == "UNAUTHENTICATED"


def test_count_tokens_counts_the_prompt(gemini_client):
    short = gemini_client.models.count_tokens(model="gemini-2.5-pro", contents="Hi")
    long = gemini_client.models.count_tokens(model="gemini-2.5-pro", contents="Hi " * 200)
    assert 0 < short.total_tokens < long.total_tokens
