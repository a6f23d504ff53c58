"""What the Proxmox API says (read-only GETs). An API error raises ApiError: the state is
unknown, never "no storages" or "no such user"."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

Record = dict[str, Any]  # one object as the API returns it


def get_all(api: Any, requests: list[tuple[str, dict[str, str]]]) -> list[Any]:
    """GET several (path, params) at once over the client's one login: a probe waits for
    the slowest answer, not for the sum of them. The first error is raised."""
    if len(requests) < 2:
        return [api.get(path, **params) for path, params in requests]
    _ = api.node  # log in (and learn the node) once, before the threads share the session
    with ThreadPoolExecutor(max_workers=min(8, len(requests))) as pool:
        return list(pool.map(lambda r: api.get(r[0], **r[1]), requests))


def storages(api: Any) -> dict[str, Record]:
    """GET /storage -> {storage id: its options}."""
    return {s["storage"]: s for s in api.get("/storage")}


def user_exists(api: Any, userid: str) -> bool:
    # the list, not GET /access/users/{id}: PVE answers a missing user with a plain 500
    return any(u.get("userid") == userid for u in api.get("/access/users"))


def acl_entries(api: Any, ugid: str, path: str) -> list[Record]:
    """The ACL entries that give `ugid` a role on `path`."""
    return [x for x in api.get("/access/acl") if x["ugid"] == ugid and x["path"] == path]
