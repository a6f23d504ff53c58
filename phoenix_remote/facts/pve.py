"""What the Proxmox API says (read-only GETs). An API error raises ApiError: the state is
unknown, never "no storages" or "no such user"."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]  # one object as the API returns it


def storages(api: Any) -> dict[str, Record]:
    """GET /storage -> {storage id: its options}."""
    return {s["storage"]: s for s in api.get("/storage")}


def user_exists(api: Any, userid: str) -> bool:
    # the list, not GET /access/users/{id}: PVE answers a missing user with a plain 500
    return any(u.get("userid") == userid for u in api.get("/access/users"))


def acl_entries(api: Any, ugid: str, path: str) -> list[Record]:
    """The ACL entries that give `ugid` a role on `path`."""
    return [x for x in api.get("/access/acl") if x["ugid"] == ugid and x["path"] == path]
