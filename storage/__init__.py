"""Persistence: models, repositories (functions taking a Session) and Alembic migrations.

Never imports telegram. Repositories return plain values or frozen dataclasses, not live
ORM rows, to the rest of the bot.
"""
