"""What the chat front ends keep between one update and the next, shared by every
process and kept across restarts: long button payloads (`ButtonPayload`) and
where users are in a wizard (`WizardState`). Both are disposable: an expired
payload makes its button say "expired", a purged wizard starts over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.models import ButtonPayload, WizardState, utcnow

WIZARD_RETENTION = timedelta(days=2)  # a wizard untouched this long is forgotten


async def save_payloads(
    session: AsyncSession, namespace: str, payloads: Mapping[str, dict], expires_at: datetime
) -> None:
    """Keep `payloads` (key → JSON object) until `expires_at`; a key kept already
    gets the new payload and expiry (the key derives from the content)."""
    if not payloads:
        return
    rows = [
        {"namespace": namespace, "key": key, "payload": payload, "expires_at": expires_at}
        for key, payload in sorted(payloads.items())  # key order: no deadlock between processes
    ]
    statement = dialect_insert(session, ButtonPayload)
    statement = statement.on_conflict_do_update(
        index_elements=["namespace", "key"],
        set_={"payload": statement.excluded.payload, "expires_at": statement.excluded.expires_at},
    )
    await session.execute(statement, rows)


async def load_payload(
    session: AsyncSession, namespace: str, key: str
) -> tuple[dict, datetime] | None:
    """The payload kept under `key` and when it expires, unless it expired."""
    query = select(ButtonPayload.payload, ButtonPayload.expires_at).where(
        ButtonPayload.namespace == namespace,
        ButtonPayload.key == key,
        ButtonPayload.expires_at > utcnow(),
    )
    row = (await session.execute(query)).one_or_none()
    return (row.payload, row.expires_at) if row is not None else None


async def load_wizard(session: AsyncSession, key: str) -> WizardState | None:
    return await session.get(WizardState, key)


async def set_wizard_state(session: AsyncSession, key: str, state: str | None) -> None:
    """Set (None: clear) the wizard's state; its data stays."""
    current = await session.get(WizardState, key)
    await _save_wizard(session, key, current, state, current.data if current else {})


async def set_wizard_data(session: AsyncSession, key: str, data: dict) -> None:
    """Replace the wizard's data; its state stays."""
    current = await session.get(WizardState, key)
    await _save_wizard(session, key, current, current.state if current else None, data)


async def _save_wizard(
    session: AsyncSession, key: str, current: WizardState | None, state: str | None, data: dict
) -> None:
    """Upsert the row; a wizard with neither a state nor data is deleted."""
    if state is None and not data:
        if current is not None:
            await session.delete(current)
        return
    values = {"state": state, "data": data, "updated_at": utcnow()}
    statement = dialect_insert(session, WizardState).values(key=key, **values)
    await session.execute(statement.on_conflict_do_update(index_elements=["key"], set_=values))


async def purge(session: AsyncSession, now: datetime | None = None) -> int:
    """Delete expired payloads and wizards untouched for `WIZARD_RETENTION`."""
    now = now or utcnow()
    payloads = await session.execute(delete(ButtonPayload).where(ButtonPayload.expires_at <= now))
    wizards = await session.execute(
        delete(WizardState).where(WizardState.updated_at <= now - WIZARD_RETENTION)
    )
    return int(payloads.rowcount or 0) + int(wizards.rowcount or 0)  # type: ignore[attr-defined]
