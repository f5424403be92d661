"""Emulated services. Each module exposes ``create(ctx) -> sandbox.context.Service``."""
