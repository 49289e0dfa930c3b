"""Distractor memories for bench/memory_recall.py, and their embeddings cached on disk.

The distractors are generated from templates (turns, tool calls, tasks, facts about other people; English and
Chinese) with varied fills, so every text is distinct. They are embedded for real with the benchmark's model:
random vectors would never compete with the stored items and would inflate recall. Embedding 100k texts takes
tens of minutes on 2 cores, so the vectors are cached per model in ``~/.cache/toolmesh/bench`` in blocks
(an interrupted run resumes).
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["distractor_vectors", "distractors"]

_BLOCK = 2_000

_NAMES = [
    "Priya",
    "Tomás",
    "Mei",
    "Oluwaseun",
    "Jonas",
    "Aiko",
    "Rafael",
    "Sofia",
    "Dmitri",
    "Fatima",
    "Liam",
    "Chen",
    "Ingrid",
    "Kwame",
    "Lucía",
    "Arjun",
    "Hana",
    "Mateo",
    "Zara",
    "Emil",
]
_TEAMS = [
    "billing",
    "search",
    "platform",
    "mobile",
    "growth",
    "security",
    "data",
    "support",
    "infra",
    "design",
]
_PROJECTS = [
    "Atlas",
    "Beacon",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orion",
    "Pioneer",
    "Quartz",
    "Relay",
    "Summit",
    "Tundra",
]
_TOOLS = [
    "search_docs",
    "run_query",
    "find_symbol",
    "list_tables",
    "get_chunk",
    "describe_table",
    "search_text",
    "read_file",
    "explain_query",
    "repo_map",
]
_TOPICS = [
    "unit conversion",
    "regex syntax",
    "timezone offsets",
    "CSV parsing",
    "HTTP status codes",
    "Docker volumes",
    "git rebase",
    "SQL window functions",
    "YAML anchors",
    "cron expressions",
    "OAuth scopes",
    "Python decorators",
    "CSS grid",
    "Kafka partitions",
    "TLS certificates",
    "log rotation",
    "cache invalidation",
    "JSON schema",
    "rate limiting",
    "load balancers",
]
_VERBS = [
    "review",
    "migrate",
    "document",
    "benchmark",
    "refactor",
    "deploy",
    "audit",
    "triage",
    "archive",
    "backfill",
]
_OBJECTS = [
    "the ingestion job",
    "the staging cluster",
    "the onboarding guide",
    "the nightly export",
    "the alert rules",
    "the feature flags",
    "the API client",
    "the invoice template",
    "the schema registry",
    "the dashboard",
]
_STATUS = ["open", "in progress", "blocked", "done", "waiting for review"]
_CITIES = ["Oslo", "Porto", "Nairobi", "Osaka", "Denver", "Kraków", "Hanoi", "Quito", "Tallinn", "Perth"]
_ZH_NAMES = ["王磊", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄强", "周婷", "吴昊"]
_ZH_DEPTS = ["财务部", "研发部", "市场部", "运维组", "客服中心", "数据组", "法务部", "采购部"]
_ZH_TOPICS = [
    "报销流程",
    "服务器扩容",
    "季度报表",
    "合同模板",
    "发票抬头",
    "接口文档",
    "权限申请",
    "数据备份",
    "招聘计划",
    "培训安排",
]
_ZH_ACTIONS = ["整理", "更新", "核对", "提交", "审批", "归档", "测试", "发布"]
_ZH_CITIES = ["成都", "杭州", "西安", "厦门", "青岛", "长沙", "苏州", "昆明"]


def _one(r: random.Random, i: int) -> tuple[str, str]:
    shape = i % 10
    if shape == 0:
        return (
            "turn",
            f"User asked about {r.choice(_TOPICS)} while working on project {r.choice(_PROJECTS)} (ticket {i}).",
        )
    if shape == 1:
        return (
            "tool_call",
            f"Called {r.choice(_TOOLS)} for {r.choice(_TOPICS)}; it returned {r.randint(0, 40)} results in {r.randint(3, 900)} ms (run {i}).",
        )
    if shape == 2:
        return (
            "task",
            f"Task {r.choice(_PROJECTS).upper()}-{i}: {r.choice(_VERBS)} {r.choice(_OBJECTS)} for the {r.choice(_TEAMS)} team, status {r.choice(_STATUS)}.",
        )
    if shape == 3:
        return (
            "fact",
            f"{r.choice(_NAMES)} from the {r.choice(_TEAMS)} team owns project {r.choice(_PROJECTS)} and sits in the {r.choice(_CITIES)} office (record {i}).",
        )
    if shape == 4:
        return (
            "turn",
            f"Assistant explained {r.choice(_TOPICS)} with an example about {r.choice(_OBJECTS)} (message {i}).",
        )
    if shape == 5:
        return (
            "fact",
            f"The {r.choice(_TEAMS)} team's on-call rotation for week {r.randint(1, 52)} is {r.choice(_NAMES)}, backup {r.choice(_NAMES)} (entry {i}).",
        )
    if shape == 6:
        return "turn", f"用户询问了{r.choice(_ZH_CITIES)}办公室的{r.choice(_ZH_TOPICS)}，工单号 {i}。"
    if shape == 7:
        return (
            "task",
            f"任务{i}：{r.choice(_ZH_DEPTS)}需要{r.choice(_ZH_ACTIONS)}{r.choice(_ZH_TOPICS)}，当前状态为{r.choice(['进行中', '已完成', '待审核', '已暂停'])}。",
        )
    if shape == 8:
        return "fact", f"{r.choice(_ZH_NAMES)}在{r.choice(_ZH_DEPTS)}负责{r.choice(_ZH_TOPICS)}，编号 {i}。"
    return (
        "tool_call",
        f"Ran {r.choice(_TOOLS)} on {r.choice(_PROJECTS)} with limit {r.randint(5, 200)}: {r.choice(['ok', 'timeout', 'no rows', 'truncated'])} (call {i}).",
    )


def distractors(n: int, seed: int = 7) -> list[tuple[str, str]]:
    """``n`` distinct (kind, text) pairs; the same ``seed`` gives the same list."""
    r = random.Random(seed)
    return [_one(r, i) for i in range(n)]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "toolmesh" / "bench" / "memory"


def distractor_vectors(embedder: Any, texts: list[str], *, log: Any = print) -> np.ndarray[Any, Any]:
    """The embeddings of ``texts`` (passages), from the cache where present; blocks of 2,000 are saved as done."""
    slug = hashlib.sha256(embedder.name.encode()).hexdigest()[:10]
    folder = _cache_dir() / slug
    folder.mkdir(parents=True, exist_ok=True)
    blocks: list[np.ndarray[Any, Any]] = []
    for lo in range(0, len(texts), _BLOCK):
        chunk = texts[lo : lo + _BLOCK]
        key = hashlib.sha256("\n".join(chunk).encode()).hexdigest()[:16]
        path = folder / f"{lo:07d}-{key}.npy"
        if path.exists():
            blocks.append(np.load(path))
            continue
        log(f"embedding distractors {lo}-{lo + len(chunk)} of {len(texts)} with {embedder.name}")
        vectors = np.asarray(embedder.embed(chunk), dtype=np.float32)
        np.save(path, vectors)
        blocks.append(vectors)
    return np.concatenate(blocks) if blocks else np.zeros((0, embedder.dim), dtype=np.float32)
