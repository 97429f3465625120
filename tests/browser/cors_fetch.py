"""A browser notebook calling argo-bridge from another origin, in a real headless Chromium.

Serves a tiny page on each PAGE_PORT (each port is its own origin, http://127.0.0.1:PORT),
loads it in Debian's chromium through its chromedriver (Selenium), and there calls the
gateway's /v1/chat/completions with fetch: once buffered, once streamed (the body read to its
end and the deltas collected), once with a wrong token (the page should read the 401). Prints one JSON object: per origin, what each fetch gave, and
what the browser's console said.

Usage: cors_fetch.py GATEWAY_URL TOKEN PAGE_PORT [PAGE_PORT ...]
Run by tests/browser_cors.rs.
"""

import json
import os
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PAGE = b"<!doctype html><html><head><title>notebook</title></head><body>notebook</body></html>"

# Runs in the page. The last argument is Selenium's callback for an async script.
FETCHES = r"""
const [base, token, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
async function call(stream, bearer) {
  try {
    const response = await fetch(base + "/v1/chat/completions", {
      method: "POST",
      headers: {"Authorization": "Bearer " + bearer, "Content-Type": "application/json"},
      body: JSON.stringify({
        model: "gpt-4o",
        stream: stream,
        messages: [{role: "user", content: "Hello from a notebook"}],
      }),
    });
    const result = {
      ok: true,
      status: response.status,
      contentType: response.headers.get("content-type"),
      requestId: response.headers.get("x-request-id"),
      overheadMs: response.headers.get("x-argo-bridge-overhead-ms"),
    };
    if (!response.ok) {
      result.error = (await response.json()).error;
      return result;
    }
    if (!stream) {
      const json = await response.json();
      result.content = json.choices[0].message.content;
      return result;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    result.reads = 0;
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      result.reads += 1;
      text += decoder.decode(value, {stream: true});
    }
    result.deltas = [];
    result.done = false;
    for (const line of text.split("\n")) {
      if (!line.startsWith("data: ")) continue;
      const data = line.slice(6).trim();
      if (data === "[DONE]") { result.done = true; continue; }
      const delta = JSON.parse(data).choices[0]?.delta?.content;
      if (delta) result.deltas.push(delta);
    }
    return result;
  } catch (error) {
    return {ok: false, error: error.name, message: String(error.message)};
  }
}
(async () => done({
  plain: await call(false, token),
  streamed: await call(true, token),
  wrongToken: await call(false, "not-a-valid-token-123"),
}))();
"""


class Page(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


class PageServer(ThreadingHTTPServer):
    # The test holds each port reserved (bound with SO_REUSEPORT, never listening) so that no
    # other process takes it before this server binds it beside that reservation.
    allow_reuse_port = True


def serve(port: int) -> ThreadingHTTPServer:
    server = PageServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    # Debian's chromium and its chromedriver: nothing is downloaded.
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-first-run", "--disable-extensions"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def main() -> None:
    base, token, ports = sys.argv[1], sys.argv[2], [int(port) for port in sys.argv[3:]]
    os.environ.setdefault("SE_AVOID_STATS", "true")
    servers = [serve(port) for port in ports]
    driver = browser()
    results = {}
    try:
        driver.set_script_timeout(60)
        for port in ports:
            origin = f"http://127.0.0.1:{port}"
            driver.get(origin + "/notebook.html")
            outcome = driver.execute_async_script(FETCHES, base, token)
            outcome["console"] = [entry["message"] for entry in driver.get_log("browser")]
            results[origin] = outcome
        results["browser"] = driver.capabilities.get("browserVersion")
    finally:
        driver.quit()
        for server in servers:
            server.shutdown()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
