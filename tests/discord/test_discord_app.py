"""`App.run` with only a Discord token: the Discord front end, the delivery worker
and the embedded web server (health checks, the TradingView webhook) together:
an alert posted to the webhook reaches a following channel."""

from __future__ import annotations

import asyncio

import aiohttp

from bot.app import App
from storage.accounts import touch_chat
from storage.follows import add_follow
from tests.conftest import make_settings

SECRET = "tv-secret"
CHANNEL = 601


async def test_discord_alone_serves_with_health_and_tradingview(tmp_path, discord_server):
    app = await App.create(
        make_settings(
            tmp_path,
            discord_bot_token=discord_server.token,
            discord_api_url=discord_server.base_url,
            web_port=0,
            tradingview_webhook_secret=SECRET,
            throttle_per_minute=7,
        )
    )
    discord_server.channel(CHANNEL, 600)
    async with app.services.db.session() as session:
        chat = await touch_chat(session, "discord", str(CHANNEL), kind="guild")
        await add_follow(session, chat.id, "BTC/USDT", "*", "tradingview")
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop=stop))
    try:
        for _ in range(200):  # until Discord is connected and the web server listens
            if app.discord is not None and app.web is not None and app.web.running:
                break
            await asyncio.sleep(0.05)
        assert app.discord is not None and app.web.running
        assert app.discord.responder.throttle.per_minute == 7  # THROTTLE_PER_MINUTE reached it
        base = f"http://127.0.0.1:{app.web.port}"
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{base}/health/live") as response:
                assert response.status == 200
            body = {"symbol": "BTCUSDT", "timeframe": "1h", "action": "buy", "price": 84000}
            async with client.post(f"{base}/webhook/tradingview", json=body) as response:
                assert response.status == 401  # no passphrase
            async with client.post(
                f"{base}/webhook/tradingview", json=body, params={"token": SECRET}
            ) as response:
                assert (response.status, await response.json()) == (
                    200,
                    {"ok": True, "duplicate": False},
                )
        await discord_server.wait_for(  # processed, queued, drawn and sent
            lambda: discord_server.sent_to(CHANNEL), 15, "the alert in the channel"
        )
        [message] = discord_server.sent_to(CHANNEL)
        assert "BTC/USDT" in message.embed["title"] and message.attachments
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await app.close()
