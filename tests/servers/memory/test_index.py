"""The incremental recall index ranks like a freshly built one: segments, tombstones, compaction, filters."""

from __future__ import annotations

import random

import numpy as np
import pytest

from toolmesh.protocols.text import Analyzer
from toolmesh.servers.memory.index import IndexFilter, RecallIndex
from toolmesh.servers.memory.items import IndexRow, ScopeRef

WORDS = "river mountain coffee budget deploy garden violin lisbon porto invoice cello peanut orchard".split()  # noqa: SIM905
GLOBAL = ScopeRef("global")


def rows(n: int, seed: int = 3, dim: int = 8) -> list[IndexRow]:
    r = random.Random(seed)
    analyzer = Analyzer()
    out = []
    for i in range(1, n + 1):
        text = " ".join(r.choice(WORDS) for _ in range(r.randint(3, 9)))
        vector = np.asarray([r.gauss(0, 1) for _ in range(dim)], dtype=np.float32)
        vector /= np.linalg.norm(vector)
        scope = GLOBAL if i % 3 else ScopeRef("user", f"u{i % 2}")
        kind = "turn" if i % 4 == 0 else "fact"
        out.append(
            IndexRow(
                i,
                scope,
                kind,
                None,
                ("even",) if i % 2 == 0 else (),
                float(i),
                float(i),
                None,
                " ".join(analyzer.terms(text)),
                vector.tobytes(),
            )
        )
    return out


def everything(index: RecallIndex) -> np.ndarray:
    return index.mask(IndexFilter((GLOBAL, ScopeRef("user", "u0"), ScopeRef("user", "u1"))))


@pytest.mark.parametrize("query", [["river", "coffee"], ["cello"], ["budget", "deploy", "porto"]])
def test_incremental_segments_score_like_a_fresh_build(query: list[str]) -> None:
    data = rows(3000)
    grown = RecallIndex(8)
    grown.load(data[:2500])
    grown.upsert(data[2500:2700])  # into the tail segment
    grown.upsert(data[2700:])
    fresh = RecallIndex(8)
    fresh.load(data)
    a = dict(grown.bm25(query, everything(grown), 3000))
    b = dict(fresh.bm25(query, everything(fresh), 3000))
    assert set(a) == set(b)
    ids = sorted(a)
    # The same scores within 3%: only the frozen segment's idf lags (it has not seen the tail's rows).
    assert np.allclose([a[i] for i in ids], [b[i] for i in ids], rtol=0.03)
    vector = np.frombuffer(data[7].vector or b"", dtype=np.float32)
    assert grown.dense(vector, everything(grown), 5)[0][0] == data[7].id


def test_updates_deletes_and_compaction() -> None:
    data = rows(5000)
    index = RecallIndex(8)
    index.load(data[:100])
    index.upsert(data[100:])  # past an eighth of the frozen part: compacts into one segment
    assert len(index) == 5000
    index.remove([r.id for r in data[:3000]])  # a quarter dead: compacts again
    assert len(index) == 2000 and 1 not in index and 4000 in index
    assert all(i > 3000 for i, _ in index.bm25(["river"], everything(index), 50))
    moved = data[4000]
    index.upsert([IndexRow(moved.id, GLOBAL, "fact", "music", (), 1.0, 9e9, None, "cello", None)])
    hits = index.bm25(["cello"], index.mask(IndexFilter((GLOBAL,), topic="music")), 5)
    assert [i for i, _ in hits] == [moved.id] and index.vector(moved.id) is None


def test_masks_filter_scope_kind_tags_time_and_expiry() -> None:
    data = rows(40)
    index = RecallIndex(8)
    index.load(data)
    u0 = index.ids(index.mask(IndexFilter((ScopeRef("user", "u0"),))))
    assert u0 and all(i % 3 == 0 and i % 2 == 0 for i in u0)
    turns = index.ids(index.mask(IndexFilter((GLOBAL,), kinds=frozenset(["turn"]), tags=frozenset(["even"]))))
    assert turns and all(i % 4 == 0 and i % 3 for i in turns)
    window = index.ids(index.mask(IndexFilter((GLOBAL,), since=10.0, until=20.0)))
    assert window == [i for i in range(10, 20) if i % 3]
    index.upsert([IndexRow(99, GLOBAL, "fact", None, (), 1.0, 1.0, 50.0, "river", None)])
    assert 99 in index.ids(index.mask(IndexFilter((GLOBAL,), now=49.0)))
    assert 99 not in index.ids(index.mask(IndexFilter((GLOBAL,), now=50.0)))
