"""Notes stored through SQLAlchemy in the database that Aana's DB_CONFIG names.

    python -m apps.db migrate && serve run apps.notes:app
    curl -d '{"text": "hello"}' localhost:8000/    # {"id": 1, "text": "hello"}; GET / lists notes
"""
from __future__ import annotations

from ray import serve
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from apps import call_with_text
from apps.db import db_config_from_env, engine_for, migrate, notes

RECENT_LIMIT = 20


def add_note(engine: Engine, text: str) -> dict:
    with engine.begin() as conn:
        (note_id,) = conn.execute(insert(notes).values(text=text)).inserted_primary_key
    # Read back on a fresh connection: the answer shows what was committed, not what was sent.
    with engine.connect() as conn:
        row = conn.execute(select(notes.c.id, notes.c.text).where(notes.c.id == note_id)).one()
    return {"id": row.id, "text": row.text}


def recent_notes(engine: Engine, limit: int = RECENT_LIMIT) -> list[dict]:
    query = select(notes.c.id, notes.c.text).order_by(notes.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [{"id": row.id, "text": row.text} for row in conn.execute(query)]


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class NoteStore:
    def __init__(self):
        config = db_config_from_env()
        self.engine = engine_for(config)
        # A local SQLite file has no migration Job in front of it; Postgres environments
        # run `python -m apps.db migrate` once instead of once per replica.
        if config["datastore_type"] == "sqlite":
            migrate(self.engine)

    def add(self, text: str) -> dict:
        return add_note(self.engine, text)

    def recent(self) -> list[dict]:
        return recent_notes(self.engine)

    async def __call__(self, request):
        if request.method == "GET":
            return {"notes": self.recent()}
        return await call_with_text(request, self.add)


app = NoteStore.bind()
