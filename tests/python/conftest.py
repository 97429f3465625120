"""Starts the real argo-bridge binary and its mock Argo on loopback for the SDK tests."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sdk-token-alice"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listening on {port}")


def binary() -> str:
    path = os.environ.get("ARGO_BRIDGE_BIN", str(ROOT / "target" / "release" / "argo-bridge"))
    if not Path(path).exists():
        raise RuntimeError(f"argo-bridge binary not found at {path}: build it or set ARGO_BRIDGE_BIN")
    return path


class Stack:
    def __init__(self, mock_args=()):
        self.mock_port = free_port()
        self.port = free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.mock = subprocess.Popen(
            [binary(), "mock-argo", "--listen", f"127.0.0.1:{self.mock_port}", *mock_args], **quiet
        )
        env = dict(os.environ)
        base = f"http://127.0.0.1:{self.mock_port}/argoapi"
        env.update(
            ARGO_BRIDGE_LISTEN=f"127.0.0.1:{self.port}",
            ARGO_BRIDGE_THREADS="2",
            ARGO_BRIDGE_TOKENS=f"{TOKEN}=alice",
            ARGO_BRIDGE_ARGO_PROD_URL=base,
            ARGO_BRIDGE_ARGO_DEV_URL=base,
            ARGO_BRIDGE_ARGO_TEST_URL=base,
            RUST_LOG="warn",
        )
        self.gateway = subprocess.Popen([binary()], cwd=ROOT, env=env, **quiet)
        wait_for(self.mock_port)
        wait_for(self.port)
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def close(self):
        for process in (self.gateway, self.mock):
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def stack():
    started = Stack()
    yield started
    started.close()


@pytest.fixture(scope="session")
def client(stack):
    from openai import OpenAI

    return OpenAI(base_url=stack.base_url, api_key=TOKEN, max_retries=0, timeout=30)
