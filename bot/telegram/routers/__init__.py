"""aiogram routers: wizards first (they own a user's messages while one runs), then
typed commands, then button presses."""

from __future__ import annotations

from aiogram import Router

from bot.telegram.routers import buttons, commands, wizards


def build_routers() -> list[Router]:
    return [wizards.build_router(), commands.build_router(), buttons.build_router()]
