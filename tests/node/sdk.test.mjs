// The official OpenAI Node SDK against the real argo-bridge binary and its mock Argo.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.ARGO_BRIDGE_BIN ?? path.join(root, "target", "release", "argo-bridge");
const token = "node-token-alice";
const children = [];
let client;

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(port) {
  for (let i = 0; i < 1000; i++) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => { socket.end(); resolve(true); });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listening on ${port}`);
}

before(async () => {
  const mockPort = await freePort();
  const port = await freePort();
  children.push(spawn(binary, ["mock-argo", "--listen", `127.0.0.1:${mockPort}`], { stdio: "ignore" }));
  const base = `http://127.0.0.1:${mockPort}/argoapi`;
  const env = {
    ...process.env,
    ARGO_BRIDGE_LISTEN: `127.0.0.1:${port}`,
    ARGO_BRIDGE_THREADS: "2",
    ARGO_BRIDGE_TOKENS: `${token}=alice`,
    ARGO_BRIDGE_ARGO_PROD_URL: base,
    ARGO_BRIDGE_ARGO_DEV_URL: base,
    ARGO_BRIDGE_ARGO_TEST_URL: base,
    RUST_LOG: "warn",
  };
  children.push(spawn(binary, [], { cwd: root, env, stdio: "ignore" }));
  await waitFor(mockPort);
  await waitFor(port);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: token, maxRetries: 0 });
});

after(() => children.forEach((child) => child.kill("SIGKILL")));

test("streams chat with content, finish_reason and usage", async () => {
  const stream = await client.chat.completions.create({
    model: "claude-sonnet-4.5",
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: "user", content: '#mock {"reply": "Node streams ✓ fine", "fragment_bytes": 2, "fragment_delay_ms": 1}' }],
  });
  let text = "";
  const finishReasons = [];
  let usage;
  for await (const chunk of stream) {
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? "";
      if (choice.finish_reason) finishReasons.push(choice.finish_reason);
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, "Node streams ✓ fine");
  assert.deepEqual(finishReasons, ["stop"]);
  assert.ok(usage.completion_tokens > 0);
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
});

test("non-streaming chat and embeddings", async () => {
  const completion = await client.chat.completions.create({
    model: "gpt-4o",
    messages: [{ role: "user", content: "Hi from Node" }],
  });
  assert.equal(completion.choices[0].message.content, "Hello from mock Argo (gpt4o). You said: Hi from Node");
  const embedding = await client.embeddings.create({ model: "text-embedding-3-small", input: "hello" });
  assert.equal(embedding.data[0].embedding.length, 1536);
});

test("errors surface as SDK errors", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-99", messages: [{ role: "user", content: "x" }] }),
    (error) => error.status === 404 && error.code === "model_not_found",
  );
});
