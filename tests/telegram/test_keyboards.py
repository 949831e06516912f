"""Buttons → typed callback data within 64 bytes, and what each press will do."""

from __future__ import annotations

from bot.telegram.keyboards import (
    PAGE_ROWS,
    ActionStore,
    Mode,
    Press,
    build_keyboard,
    button_press,
    decode,
    encode,
)
from handlers.reply import Button


async def test_short_actions_travel_in_the_callback_data() -> None:
    store = ActionStore()
    data = encode(Press(m=Mode.EDIT, a="chart BTC/USDT 4h"), store)
    assert data == "c|e|chart BTC/USDT 4h|" and len(store) == 0
    assert await decode(data, store) == Press(m=Mode.EDIT, a="chart BTC/USDT 4h")


async def test_long_actions_are_kept_server_side_until_they_expire() -> None:
    now = [0.0]
    store = ActionStore(ttl=60, clock=lambda: now[0])
    long_action = "unfollow DOGEUSDTPERP/USDT 15m ma_cross " + "x" * 40
    piped = "broadcast a | b"  # the separator cannot travel in the data
    for action in (long_action, piped, "lang ü" * 20):
        data = encode(Press(m=Mode.NEW, a=action, s="following"), store)
        assert data.startswith("k|") and len(data.encode()) <= 64
        assert await decode(data, store) == Press(m=Mode.NEW, a=action, s="following")
    assert encode(Press(m=Mode.NEW, a=piped), store) == encode(Press(m=Mode.NEW, a=piped), store)
    now[0] += 61
    assert await decode(encode(Press(m=Mode.NEW, a="x" * 70), store), store) is not None  # fresh
    assert await decode(data, store) is None  # expired
    assert await decode("k|unknown", store) is None
    assert await decode("c|zz|bad mode|", store) is None
    assert await decode("garbage", store) is None


async def test_capacity_forgets_the_oldest() -> None:
    store = ActionStore(capacity=2)
    keys = [store.put(Press(m=Mode.NEW, a=f"{n}" * 70)) for n in range(3)]
    assert await store.get(keys[0]) is None and await store.get(keys[2]) is not None


def test_modes_follow_from_the_command_and_the_message() -> None:
    assert button_press("chart BTC/USDT 4h", "chart BTC").m is Mode.EDIT
    assert button_press("price BTC/USDT", "price btc").m is Mode.EDIT
    assert button_press("chart BTC/USDT 1h", "price BTC").m is Mode.NEW
    assert button_press("lang id", "start").m is Mode.NEW
    assert button_press("unfollow BTC/USDT rsi", "following").m is Mode.TOGGLE
    assert button_press("follow BTC/USDT 1h", "analyze BTC").m is Mode.TOGGLE
    ask = button_press("delalarm 12", "alarms")
    assert (ask.m, ask.s) == (Mode.ASK, "alarms")
    # the alarm-set reply cannot be re-run: no source to refresh
    assert button_press("delalarm 12", "alarm BTC above 70000").s == ""
    assert button_press("delalarm all", "alarms").m is Mode.NEW  # asks by itself
    assert button_press("help", None).m is Mode.NEW


async def test_long_lists_are_paged_when_their_source_can_run_again() -> None:
    store = ActionStore()
    rows = [[Button(f"🔕 #{n}", f"unfollow SYM{n}/USDT")] for n in range(20)]
    first = build_keyboard(rows, "following", store)
    assert first is not None
    labels = [[b.text for b in row] for row in first.inline_keyboard]
    assert len(labels) == PAGE_ROWS + 1 and labels[-1] == ["1/3", "▶"]
    last = build_keyboard(rows, "following", store, page=2)
    assert last is not None
    assert [[b.text for b in row] for row in last.inline_keyboard][-1] == ["◀", "3/3"]
    assert len(last.inline_keyboard) == 4 + 1
    page = await decode(last.inline_keyboard[-1][0].callback_data or "", store)
    assert page == Press(m=Mode.PAGE, a="1", s="following")
    flat = build_keyboard(rows, "follow BTC", store)  # cannot re-run: no paging
    assert flat is not None and len(flat.inline_keyboard) == 20
    every = [b.callback_data or "" for row in first.inline_keyboard for b in row]
    assert all(len(d.encode()) <= 64 for d in every)
    assert build_keyboard([], "help", store) is None
