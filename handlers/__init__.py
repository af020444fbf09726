"""Telegram glue only: turn updates into domain calls and results into messages."""
