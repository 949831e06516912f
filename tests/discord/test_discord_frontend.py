"""The front end's life and limits: a refused token, a shutdown that lets the
interaction in flight finish, replies bigger than Discord allows cut to fit (the
emulator rejects anything over its limits), and buttons beyond a custom id's 100
characters or a view's 25 slots."""

from __future__ import annotations

from typing import Any

import discord
import pytest

from bot.app import App
from bot.delivery import Outgoing
from bot.discord.app import DiscordFrontend, DiscordStartupError
from bot.discord.render import render
from bot.discord.views import ActionStore, Press, decode, encode, press_for
from handlers.reply import Button, Field, Reply
from tests.discord_server import DiscordServer

CHANNEL = 501


async def test_a_refused_token_names_the_setting(app: App, discord_server: DiscordServer) -> None:
    frontend = DiscordFrontend(app.services, "not-the-token", api_base=discord_server.base_url)
    original = discord.http.Route.BASE
    with pytest.raises(DiscordStartupError, match="DISCORD_BOT_TOKEN"):
        await frontend.start()
    assert original == discord.http.Route.BASE  # restored without a stop()


async def test_stopping_lets_the_interaction_in_flight_finish(
    start_frontend: Any, discord_server: DiscordServer
) -> None:
    frontend = await start_frontend(defer_after=0.0)
    server = discord_server
    ann = server.user(6001, "Ann")
    interaction = await server.command(ann, CHANNEL, "analyze", {"symbol": "BTC"})
    await server.wait_for(lambda: interaction.responses, what="the deferral")
    await frontend.stop()  # while the analysis is still being computed
    message = await server.answer(interaction, timeout=1)
    assert message.embed["title"] == "Analysis of BTC/USDT · 1h"


async def test_an_oversized_reply_is_cut_to_discords_limits(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    reply = Reply(
        title="T" * 300,
        text="*x* " * 2000,  # Markdown is escaped, then cut
        fields=[Field(f"field {n}", "v" * 2000) for n in range(30)] + [Field("", "")],
        footer="f" * 3000,
        buttons=[[Button(f"button {r}.{c}", f"price B{r}{c}") for c in range(6)] for r in range(6)],
    )
    await frontend.sender.send(Outgoing(str(CHANNEL), "guild", reply))
    [message] = discord_server.sent_to(CHANNEL)  # the emulator enforces every limit
    embed = message.embed
    assert len(embed["title"]) == 256 and embed["title"].endswith("…")
    assert len(embed["fields"]) <= 25 and len(embed["footer"]["text"]) == 2048
    assert len(message.buttons) == 25
    assert embed["description"].startswith("\\*x\\* ")


async def test_long_actions_are_kept_server_side_and_still_work(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(6001, "Ann")
    action = "help " + "x" * 120
    reply = Reply(text="long", buttons=[[Button("Go", action), Button("Go too", action)]])
    await frontend.sender.send(Outgoing(str(CHANNEL), "guild", reply))
    [message] = server.sent_to(CHANNEL)
    first, second = message.buttons.values()
    assert first.startswith("pk:") and first != second  # unique within the message
    answer = await server.answer(await server.press(ann, message, "Go"))
    assert "There is no command /xxxx" in answer.text and answer.ephemeral


async def test_long_buttons_work_after_a_restart(
    start_frontend: Any, discord_server: DiscordServer
) -> None:
    """The payload is in the database: the next process answers the press (the
    store's memory is new), as another process behind a load balancer would."""
    server = discord_server
    ann = server.user(6002, "Ann")
    first = await start_frontend()
    reply = Reply(text="long", buttons=[[Button("Go", "help " + "y" * 120)]])
    await first.sender.send(Outgoing(str(CHANNEL), "guild", reply))
    [message] = server.sent_to(CHANNEL)
    await first.stop()
    restarted = await start_frontend()
    assert len(restarted.store) == 0
    answer = await server.answer(await server.press(ann, message, "Go"))
    assert "There is no command /yyyy" in answer.text  # the action ran: not "expired"


async def test_custom_ids_round_trip() -> None:
    store = ActionStore()
    for press in (Press("e", "chart BTC/USDT 4h"), Press("r", "delalarm 12", "alarms")):
        assert await decode(encode(press, 3, store), store) == press
    assert press_for("chart BTC/USDT 1d", "chart BTC/USDT 4h").mode == "e"
    assert press_for("delalarm 3", "alarms") == Press("r", "delalarm 3", "alarms")
    assert press_for("alarms", "alarm BTC above 1").mode == "n"
    assert press_for("help", None).mode == "n"
    assert await decode("something-else", store) is None


async def test_views_are_not_kept_per_message(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    """Buttons are routed by the one registered `ActionButton`, so sending many
    messages with buttons keeps nothing in discord.py's view store."""
    reply = Reply(text="x", buttons=[[Button("a", "price BTC")]])
    rendered = render(reply, source="price BTC")
    assert rendered.view is not None and rendered.view.is_finished()
    for _ in range(3):
        await frontend.sender.send(Outgoing(str(CHANNEL), "guild", reply))
    ann = discord_server.user(6001, "Ann")
    price = await discord_server.command(ann, CHANNEL, "price", {"symbol": "BTC"})
    await discord_server.answer(price)
    assert not frontend.client.persistent_views


async def test_an_interaction_answered_too_late_harms_nothing_else(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    server = discord_server
    ann = server.user(6001, "Ann")
    server.deadline = 0.0  # every answer is late: Discord says "Unknown interaction"
    late = await server.command(ann, CHANNEL, "start")
    callback = f"/interactions/{late.id}/{late.token}/callback"
    await server.wait_for(lambda: (callback_status := [
        s for _, p, s in server.requests if p == callback
    ]) and callback_status[-1] == 404, what="the late answer")  # fmt: skip
    server.deadline = 3.0
    on_time = await server.command(ann, CHANNEL, "start")
    assert "Welcome" in (await server.answer(on_time)).text
    assert late.responses == []


async def test_a_command_this_process_does_not_know_gets_an_apology(
    frontend: DiscordFrontend, discord_server: DiscordServer
) -> None:
    """Discord still lists a command an older version synced: the tree fails to
    find it and the user hears so instead of "the application did not respond"."""
    discord_server.commands.append({"name": "ghost", "id": "9", "options": []})
    ann = discord_server.user(6001, "Ann")
    answer = await discord_server.answer(await discord_server.command(ann, CHANNEL, "ghost"))
    assert answer.ephemeral and "something went wrong on my side" in answer.text
