"""Retention of the IDENT database's logs: the rows of ``ident_exchange_log`` (by ``logged_at``) and
``ident_rejects`` (by ``seen_at``) older than a cutoff, deleted in batches.

One batch is one short transaction of two statements, the same SQL on every dialect:

* the largest id among the ``batch_size`` lowest ids of rows older than the cutoff — a derived
  table with ``LIMIT`` (``TOP`` on SQL Server), which MySQL/MariaDB, SQL Server and SQLite all take
  (MySQL refuses ``LIMIT`` in an ``IN`` subquery and ``DELETE … LIMIT`` does not exist elsewhere);
* ``DELETE … WHERE id <= that id AND <time> < cutoff``: a primary-key range from the start of the
  table, where the oldest rows are, so each transaction locks at most one batch of rows and the
  writers appending new rows at the other end never wait for the whole prune.

A reject pruned this way is stored again, as a new one, if its service sends the same payload again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Table, delete, func, select

from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.tables import exchange_log, rejects

# The tables whose old rows go, each with the column that dates a row.
PRUNED: tuple[tuple[Table, Column], ...] = ((exchange_log, exchange_log.c.logged_at), (rejects, rejects.c.seen_at))


@dataclass(frozen=True)
class Pruned:
    table: str
    rows: int  # rows deleted
    batches: int  # transactions that deleted rows


def batch_end(table: Table, moment: Column, cutoff: datetime, batch_size: int):
    """The query for the id that ends the next batch: NULL when no row is older than ``cutoff``."""
    oldest = select(table.c.id).where(moment < cutoff).order_by(table.c.id).limit(batch_size).subquery()
    return select(func.max(oldest.c.id))


def batch_delete(table: Table, moment: Column, cutoff: datetime, last_id: int):
    return delete(table).where(table.c.id <= last_id, moment < cutoff)


def prune_table(
    db: IdentDatabase,
    table: Table,
    moment: Column,
    cutoff: datetime,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> Pruned:
    """Delete ``table``'s rows whose ``moment`` is before ``cutoff`` (aware), ``batch_size`` rows per
    transaction, until none is left; ``on_batch`` hears each batch's count."""
    rows = batches = 0
    while True:
        with db.begin() as conn:  # one batch, committed before the next one starts
            last_id = conn.scalar(batch_end(table, moment, cutoff, batch_size))
            if last_id is None:
                break
            deleted = conn.execute(batch_delete(table, moment, cutoff, last_id)).rowcount
        rows, batches = rows + deleted, batches + 1
        if on_batch is not None:
            on_batch(deleted)
        if deleted < batch_size:  # the last, short batch: nothing older is left
            break
    return Pruned(table.name, rows, batches)
