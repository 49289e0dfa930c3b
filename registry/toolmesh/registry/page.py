"""The web page at ``/``: the mesh at a glance, rendered on the server (no front-end build, no scripts)."""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from toolmesh.protocols.cards import EntryView
from toolmesh.protocols.errors import ToolmeshError
from toolmesh.registry.api import error_response
from toolmesh.registry.auth import Authenticator
from toolmesh.registry.service import Registry

__all__ = ["page_routes", "render_page"]

_PAGE_LIMIT = 100
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
_STYLE = "\n".join(
    [
        "body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}",
        "header{background:#1d2330;color:#fff;padding:14px 24px;display:flex;gap:24px;align-items:center}",
        "header h1{font-size:18px;margin:0}",
        "header a{color:#fff;text-decoration:none}",
        "a.name{color:inherit;text-decoration:none}",
        "#facts th{width:160px}",
        "header .stats{opacity:.8}",
        "main{padding:16px 24px}",
        "h2{font-size:16px;margin:20px 0 8px}",
        "form{display:flex;gap:8px;margin:0 0 8px;align-items:center}",
        "input[type=search]{flex:1;max-width:420px;padding:6px 8px;border:1px solid #c6ccd6}",
        "button{padding:6px 12px;border:0;border-radius:6px;background:#2f6fed;color:#fff}",
        "table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #e0e4ea}",
        "th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #eef0f4;vertical-align:top}",
        "th{background:#fafbfc;font-weight:600;font-size:12px;text-transform:uppercase;color:#5b6475}",
        ".chip{display:inline-block;background:#eef2fb;color:#24408e;border-radius:10px;padding:1px 8px}",
        ".chip{margin:1px 2px;font-size:12px}",
        ".tag{background:#f1f1f1;color:#555}",
        ".h{font-weight:600;border-radius:10px;padding:2px 8px;font-size:12px}",
        ".h-healthy{background:#dff5e3;color:#17692b}",
        ".h-degraded{background:#fff1d6;color:#8a5a00}",
        ".h-down{background:#fde2e1;color:#a3201b}",
        ".h-unknown{background:#eceef2;color:#555}",
        ".muted{color:#6b7385;font-size:12px}",
        ".empty{color:#6b7385;padding:12px}",
    ]
)


def _ago(then: float, now: float) -> str:
    seconds = max(0, int(now - then))
    if seconds < 90:
        return f"{seconds}s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _chips(values: list[str], css: str = "chip") -> str:
    return (
        "".join(f'<span class="{css}">{escape(v)}</span>' for v in values)
        or '<span class="muted">none</span>'
    )


def _health(entry: EntryView) -> str:
    title = escape(entry.health_detail, quote=True)
    return f'<span class="h h-{entry.health}" title="{title}">{escape(entry.health)}</span>'


def _name_link(entry: EntryView) -> str:
    href = escape(f"/ui/entries/{quote(entry.id, safe='')}", quote=True)
    return f'<a class="name" href="{href}"><strong>{escape(entry.name)}</strong></a>'


def _shell(title: str, header: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><header><h1><a href="/">toolmesh registry</a></h1>{header}</header>
<main>{body}</main></body></html>"""


def render_entry(entry: EntryView, *, now: float) -> str:
    """One entry: its facts, its document (escaped JSON) and its version history."""
    facts = [
        ("Kind", "agent" if entry.kind == "agent" else "MCP server"),
        ("Owner", entry.owner),
        ("Version", str(entry.version)),
        ("Health", entry.health + (f" — {entry.health_detail}" if entry.health_detail else "")),
        (
            "Signature",
            entry.signature.status + (f" (key {entry.signature.key_id})" if entry.signature.key_id else ""),
        ),
        ("Last heartbeat", _ago(entry.last_heartbeat, now)),
        ("TTL expires", f"in {max(0, int(entry.expires_at - now))}s"),
        ("Card URL" if entry.kind == "agent" else "Endpoint", entry.url or "—"),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    offers = (
        f"<h2>Skills</h2><div>{_chips(entry.skills)}</div>"
        if entry.kind == "agent"
        else f"<h2>Tools</h2><div>{_chips(entry.tools)}</div>"
    )
    history = "".join(
        f"<tr><td>{v.version}</td><td>{escape(v.updated_by)}</td><td>{_ago(v.updated_at, now)}</td></tr>"
        for v in entry.history or []
    )
    document = escape(json.dumps(entry.document, indent=2, ensure_ascii=False))
    body = (
        f'<table id="facts">{rows}</table>{offers}'
        f"<h2>{'Agent card' if entry.kind == 'agent' else 'Server entry'}</h2>"
        f'<pre id="document" style="background:#fff;border:1px solid #e0e4ea;padding:12px;overflow:auto">'
        f"{document}</pre>"
        '<h2>History</h2><table id="history">'
        "<thead><tr><th>Version</th><th>By</th><th>When</th></tr></thead>"
        f"<tbody>{history}</tbody></table>"
    )
    header = f'<span class="stats">{escape(entry.name)} · {escape(entry.id)}</span>'
    return _shell(f"{entry.name} — toolmesh registry", header, body)


def _agent_row(entry: EntryView, now: float) -> str:
    interfaces = entry.document.get("supportedInterfaces") or []
    endpoint = interfaces[0].get("url", "") if interfaces and isinstance(interfaces[0], dict) else ""
    signed = {"verified": "signed ✓", "unverified": "signed (unknown key)", "unsigned": ""}.get(
        entry.signature.status, ""
    )
    return (
        f'<tr class="entry agent" data-id="{escape(entry.id, quote=True)}">'
        f"<td>{_name_link(entry)}<div class='muted'>{escape(entry.id)}</div>"
        f"<div class='muted'>{escape(signed)}</div></td>"
        f"<td>{escape(entry.description)}<div class='muted'>{escape(str(endpoint))}</div></td>"
        f"<td>{_chips(entry.skills)}<div>{_chips(entry.tags, 'chip tag') if entry.tags else ''}</div></td>"
        f"<td>{_chips(entry.bindings, 'chip tag')}</td>"
        f"<td>{_health(entry)}</td>"
        f"<td title='{entry.last_heartbeat:.0f}'>{_ago(entry.last_heartbeat, now)}</td>"
        "</tr>"
    )


def _server_row(entry: EntryView, now: float) -> str:
    document = entry.document
    where = document.get("url") or " ".join(str(a) for a in document.get("command") or [])
    return (
        f'<tr class="entry server" data-id="{escape(entry.id, quote=True)}">'
        f"<td>{_name_link(entry)}<div class='muted'>{escape(entry.id)}</div></td>"
        f"<td>{escape(entry.description)}<div class='muted'>{escape(str(document.get('transport', '')))}: "
        f"{escape(str(where))}</div></td>"
        f"<td>{_chips(entry.tools)}</td>"
        f"<td>{_health(entry)}</td>"
        f"<td title='{entry.last_heartbeat:.0f}'>{_ago(entry.last_heartbeat, now)}</td>"
        "</tr>"
    )


def render_page(
    agents: list[EntryView], servers: list[EntryView], *, query: str, now: float, more: bool
) -> str:
    """The whole page as HTML; every value from an entry is escaped."""
    healthy = sum(1 for e in [*agents, *servers] if e.health == "healthy")
    agent_rows = "".join(_agent_row(e, now) for e in agents) or (
        '<tr><td colspan="6" class="empty">No agents registered.</td></tr>'
    )
    server_rows = "".join(_server_row(e, now) for e in servers) or (
        '<tr><td colspan="5" class="empty">No MCP servers registered.</td></tr>'
    )
    note = (
        f'<p class="muted">Showing the first {_PAGE_LIMIT} of each kind; narrow with a search.</p>'
        if more
        else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="30"><title>toolmesh registry</title><style>{_STYLE}</style></head>
<body><header><h1>toolmesh registry</h1>
<span class="stats" id="stats">{len(agents)} agents · {len(servers)} MCP servers · {healthy} healthy</span>
</header>
<main>
<form method="get" action="/"><input type="search" name="q" value="{escape(query, quote=True)}"
 placeholder="Search names, skills, tools…"><button type="submit">Search</button>
<a class="muted" href="/openapi.json">API</a></form>{note}
<h2>Agents</h2>
<table id="agents"><thead><tr><th>Agent</th><th>Description</th><th>Skills</th><th>Bindings</th>
<th>Health</th><th>Last heartbeat</th></tr></thead><tbody>{agent_rows}</tbody></table>
<h2>MCP servers</h2>
<table id="servers"><thead><tr><th>Server</th><th>Description</th><th>Tools</th><th>Health</th>
<th>Last heartbeat</th></tr></thead><tbody>{server_rows}</tbody></table>
</main></body></html>"""


def page_routes(registry: Registry, auth: Authenticator) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        try:
            auth.reader(request)
            text = (request.query_params.get("q") or "").strip()[:200] or None
            agents = await registry.search(
                registry.query(kind="agent", text=text, include_down=True, limit=_PAGE_LIMIT)
            )
            servers = await registry.search(
                registry.query(kind="server", text=text, include_down=True, limit=_PAGE_LIMIT)
            )
        except ToolmeshError as exc:
            return error_response(exc)
        html = render_page(
            agents.items,
            servers.items,
            query=text or "",
            now=registry.clock(),
            more=bool(agents.next_cursor or servers.next_cursor),
        )
        return HTMLResponse(
            html,
            headers={
                "content-security-policy": _CSP,
                "x-frame-options": "DENY",
            },
        )

    async def detail(request: Request) -> Response:
        try:
            auth.reader(request)
            entry = await registry.get(
                request.path_params["entry_id"], history=registry.settings.history_limit
            )
        except ToolmeshError as exc:
            return error_response(exc)
        return HTMLResponse(
            render_entry(entry, now=registry.clock()),
            headers={"content-security-policy": _CSP, "x-frame-options": "DENY"},
        )

    return [Route("/", index, methods=["GET"]), Route("/ui/entries/{entry_id}", detail, methods=["GET"])]
