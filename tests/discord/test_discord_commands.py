"""The slash-command tree generated from the registry, synced through discord.py's
real HTTP layer to the emulator, and every command's options parsed from real
interaction payloads (the emulator checks them against the synced commands as
Discord's client does); autocomplete and localisation."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.discord.app import DiscordFrontend
from bot.discord.commands import CatalogueTranslator, command_line, text
from handlers.i18n import translations
from handlers.signals import FOLLOW_STRATEGIES
from storage.accounts import get_user
from tests.discord_payloads import MANAGE_CHANNELS, MEMBER_PERMISSIONS
from tests.discord_server import DiscordServer

CHANNEL = 501
MANAGER = MEMBER_PERMISSIONS | MANAGE_CHANNELS


def options(server: DiscordServer, name: str) -> dict[str, dict[str, Any]]:
    command = next(c for c in server.commands if c["name"] == name)
    return {o["name"]: o for o in command.get("options", [])}


async def test_the_synced_tree_is_the_registry(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    registry = frontend.services.registry
    assert [c["name"] for c in discord_server.commands] == [c.name for c in registry.commands]
    for command in registry.commands:
        synced = options(discord_server, command.name)
        assert list(synced) == [p.name for p in command.params if not p.optional] + [
            p.name for p in command.params if p.optional
        ]
        for param in command.params:
            assert synced[param.name]["required"] is not param.optional
    chart = options(discord_server, "chart")
    assert chart["symbol"]["autocomplete"] and chart["symbol"]["type"] == 3
    timeframes = frontend.services.config.timeframes
    assert [c["value"] for c in chart["timeframe"]["choices"]] == list(timeframes)
    follow = options(discord_server, "follow")
    assert [c["value"] for c in follow["strategy"]["choices"]] == list(FOLLOW_STRATEGIES)
    assert [c["value"] for c in options(discord_server, "lang")["code"]["choices"]] == [
        "en",
        "id",
        "tr",
    ]
    alarm = options(discord_server, "alarm")
    assert alarm["condition"]["autocomplete"] and alarm["value"]["max_length"] == 100
    assert options(discord_server, "delalarm")["target"]["autocomplete"]
    assert options(discord_server, "help")["command"]["autocomplete"]


async def test_names_and_descriptions_are_localised_from_the_catalogues(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    price = next(c for c in discord_server.commands if c["name"] == "price")
    summary = "Last price, 24h change, high/low, volume and data age"
    for language in ("id", "tr"):
        expected = translations(language).gettext(summary)
        assert expected != summary
        assert price["description_localizations"][language] == expected
        symbol = price["options"][0]
        assert symbol["description_localizations"][language] == translations(language).gettext(
            "market, e.g. BTC, ETH/USDT, btcusdt"
        )
    assert not price.get("name_localizations")  # the command names are the contract


async def test_the_translator_keeps_discord_rules() -> None:
    translator = CatalogueTranslator()
    context = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.command_description, None
    )
    name = app_commands.TranslationContext(
        app_commands.TranslationContextLocation.command_name, None
    )
    summary = text("Last price, 24h change, high/low, volume and data age")
    indonesian = await translator.translate(summary, discord.Locale.indonesian, context)
    assert indonesian and indonesian.startswith("Harga terakhir")
    assert await translator.translate(summary, discord.Locale.american_english, context) is None
    assert await translator.translate(summary, discord.Locale.german, context) is None
    assert await translator.translate(text("price"), discord.Locale.turkish, name) is None
    long = text("x " * 80)
    assert len(long.message) == 100 and long.extras["msgid"] == "x " * 80


def test_the_command_line_follows_the_registry_order(frontend: DiscordFrontend) -> None:
    registry = frontend.services.registry
    follow = registry.find("follow")
    assert follow is not None
    line = command_line(follow, {"strategy": "rsi", "symbol": "BTC", "timeframe": None})
    assert line == "follow BTC rsi"
    alarm = registry.find("alarm")
    assert alarm is not None
    values = {"value": "  below 30 4h ", "condition": "rsi(7)", "symbol": "eth"}
    assert command_line(alarm, values) == "alarm eth rsi(7) below 30 4h"
    start = registry.find("start")
    assert start is not None and command_line(start, {}) == "start"


async def test_every_command_parses_its_options(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    bob = server.user(3001, "Bob")

    async def run(name: str, values: dict[str, Any] | None = None, **kwargs: Any) -> str:
        interaction = await server.command(bob, CHANNEL, name, values or {}, **kwargs)
        message = await server.answer(interaction)
        assert not message.ephemeral, f"/{name} {values}: {message.text}"
        return message.text.replace("\\", "")

    assert "Welcome to PulseWave, Bob" in await run("start")
    assert "PulseWave commands" in await run("help")
    assert "/chart SYMBOL [TF]" in await run("help", {"command": "chart"})
    assert "Your language is English" in await run("lang")
    assert "ETH/USDT" in await run("price", {"symbol": "eth-usdt"})
    assert "ETH/USDT · 1h" in await run("chart", {"symbol": "ETH"})
    assert "BTC/USDT · 4h" in await run("chart", {"symbol": "btcusdt", "timeframe": "4h"})
    assert "Analysis of BTC/USDT · 4h" in await run("analyze", {"symbol": "BTC", "timeframe": "4h"})
    assert "Signals · BTC/USDT" in await run("signals", {"symbol": "BTC"})
    assert "Signals" in await run("signals")
    followed = await run("follow", {"symbol": "BTC", "strategy": "rsi"}, permissions=MANAGER)
    assert "Following BTC/USDT" in followed and "rsi" in followed
    assert "ETH/USDT · 4h · pulsewave" in await run(
        "follow", {"symbol": "ETH", "timeframe": "4h"}, permissions=MANAGER
    )
    assert "Following (2)" in await run("following")
    assert "Stopped 1 follow of BTC/USDT" in await run(
        "unfollow", {"symbol": "BTC", "strategy": "rsi"}, permissions=MANAGER
    )
    set_ = await run(
        "alarm",
        {"symbol": "BTC", "condition": "rsi(7)", "value": "below 30 4h"},
        permissions=MANAGER,
    )
    assert "Alarm #1 set" in set_
    assert "Alarm #2 set" in await run(
        "alarm", {"symbol": "ETH", "condition": "above", "value": "3k"}, permissions=MANAGER
    )
    assert "Alarms · 2 active of 10" in await run("alarms")
    assert "Deleted alarm #1" in await run("delalarm", {"target": "#1"}, permissions=MANAGER)
    assert "Deleted 1 alarm" in await run(
        "delalarm", {"target": "all", "confirm": "confirm"}, permissions=MANAGER
    )
    assert "Bahasa Indonesia" in await run("lang", {"code": "id"})
    assert "Perubahan 24j" in await run("price", {"symbol": "BTC"})


async def test_wrong_options_get_the_parsers_errors(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    bob = server.user(3001, "Bob")
    cases = [
        ("price", {"symbol": "b$c"}, "is not a market symbol"),
        ("price", {"symbol": "NOPE"}, "I don't know the market NOPE/USDT"),
        ("alarm", {"symbol": "BTC", "condition": "sideways", "value": "1"}, "not an alarm cond"),
        ("alarm", {"symbol": "BTC", "condition": "above", "value": "lots"}, "is not a number"),
        ("delalarm", {"target": "x"}, "is not an alarm number"),
    ]
    for name, values, expected in cases:
        interaction = await server.command(bob, server.dm(bob), name, values)
        message = await server.answer(interaction)
        assert message.ephemeral and expected in message.text.replace("\\", ""), message.text
        assert message.embed["color"] == 0xF39C12


async def test_symbols_are_suggested_from_the_exchanges_markets(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    bob = server.user(3001, "Bob")
    known = await frontend.services.market.symbols()
    everything = await server.autocomplete(bob, CHANNEL, "price", {"symbol": ""}, "symbol")
    assert [c["value"] for c in everything][:2] == ["BTC/USDT", "ETH/USDT"]  # the watchlist
    assert {c["value"] for c in everything} <= set(known)
    eth = await server.autocomplete(bob, CHANNEL, "chart", {"symbol": "eth"}, "symbol")
    assert eth[0]["value"] == "ETH/USDT"
    assert await server.autocomplete(bob, CHANNEL, "price", {"symbol": "zzzz"}, "symbol") == []


async def test_alarm_ids_are_suggested_from_this_chats_alarms(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    bob = server.user(3001, "Bob")
    for chat, value in ((CHANNEL, "90k"), (CHANNEL, "95k"), (server.dm(bob), "99k")):
        values = {"symbol": "BTC", "condition": "above", "value": value}
        interaction = await server.command(bob, chat, "alarm", values, permissions=MANAGER)
        assert "set" in (await server.answer(interaction)).text
    found = await server.autocomplete(bob, CHANNEL, "delalarm", {"target": ""}, "target")
    assert [c["value"] for c in found] == ["1", "2", "all"]
    assert found[0]["name"].startswith("#1 · BTC/USDT at or above 90,000")
    assert [c["value"] for c in await server.autocomplete(
        bob, server.dm(bob), "delalarm", {"target": "#"}, "target"
    )] == ["3"]  # fmt: skip
    carol = server.user(3002, "Carol")  # typing only: nothing is stored for her
    assert (
        await server.autocomplete(carol, server.dm(carol), "delalarm", {"target": ""}, "target")
        == []
    )
    async with frontend.services.db.session() as session:
        assert await get_user(session, "discord", "3002") is None
    conditions = await server.autocomplete(
        bob, CHANNEL, "alarm", {"symbol": "BTC", "condition": "rsi("}, "condition"
    )
    assert [c["value"] for c in conditions] == ["rsi(", "rsi(7)"]
    kinds = await server.autocomplete(bob, CHANNEL, "alarm", {"condition": ""}, "condition")
    assert [c["value"] for c in kinds][:4] == ["above", "below", "cross", "change"]
    turkish = await server.autocomplete(
        bob, CHANNEL, "help", {"command": "pr"}, "command", locale="tr"
    )
    assert turkish == [{"name": "/price — Son fiyat, 24s değişim, en yüksek/en düşük, hacim ve veri yaşı", "value": "price"}]  # fmt: skip
