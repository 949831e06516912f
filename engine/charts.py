"""Chart images: mplfinance candlesticks rendered to PNG bytes.

Rendering is CPU work (~0.3 s); callers run it in a worker thread. Matplotlib's
global state is not thread-safe, so renders are serialised by a lock, and every
figure is closed after saving so that a long-running process does not leak.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # headless: no display in a server process

import matplotlib.pyplot as plt
import mplfinance as mpf
import pandas as pd

from engine import indicators

CHART_CANDLES = 120
WARMUP_CANDLES = 60  # enough history before the visible window for EMA 50 and RSI 14
WIDTH_PX, HEIGHT_PX, DPI = 1200, 800, 100

_render_lock = threading.Lock()

_STYLE = mpf.make_mpf_style(
    base_mpf_style="nightclouds",
    marketcolors=mpf.make_marketcolors(
        up="#26a69a", down="#ef5350", edge="inherit", wick="inherit", volume="in"
    ),
    facecolor="#131722",
    figcolor="#131722",
    gridcolor="#2a2e39",
    gridstyle="-",
    rc={"font.size": 10},
)


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """What to draw. `title` is shown as given (already localised by the caller)."""

    title: str
    subtitle: str = ""
    levels: tuple[float, ...] = ()
    watermark: str = ""
    # Signal markers: (candle open time in ms, "buy" or "sell"); drawn below the
    # candle's low (buy, ▲) or above its high (sell, ▼) when the candle is shown.
    markers: tuple[tuple[int, str], ...] = ()


def marker_series(
    visible: pd.DataFrame, markers: tuple[tuple[int, str], ...], side: str
) -> pd.Series:
    """Marker y-positions aligned to `visible` (NaN where there is none).

    >>> idx = pd.to_datetime([0, 3_600_000], unit="ms", utc=True)
    >>> f = pd.DataFrame({"high": [10.0, 12.0], "low": [9.0, 11.0]}, index=idx)
    >>> marker_series(f, ((3_600_000, "buy"),), "buy").round(2).tolist()
    [nan, 10.91]
    """
    y = pd.Series(float("nan"), index=visible.index)
    span = float(visible["high"].max() - visible["low"].min()) or 1.0
    times = visible.index.as_unit("ms").asi8 if hasattr(visible.index, "as_unit") else []
    position = {int(t): i for i, t in enumerate(times)}
    for open_ms, marker_side in markers:
        i = position.get(int(open_ms))
        if i is None or marker_side != side:
            continue
        if side == "buy":
            y.iloc[i] = float(visible["low"].iloc[i]) - span * 0.03
        else:
            y.iloc[i] = float(visible["high"].iloc[i]) + span * 0.03
    return y


def render_candles(frame: pd.DataFrame, spec: ChartSpec, candles: int = CHART_CANDLES) -> bytes:
    """Render the last `candles` rows of `frame` (with any extra rows before them used
    as indicator warm-up) as a PNG of WIDTH_PX × HEIGHT_PX pixels.

    Panels: candlesticks with EMA 20/50 and Bollinger bands (20, 2σ), volume, RSI 14.

    >>> png = render_candles(frame, ChartSpec("BTC/USDT · 4h"))  # doctest: +SKIP
    >>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"  # doctest: +SKIP
    True
    """
    if frame.empty:
        raise ValueError("no candles to draw")
    close = frame["close"]
    overlays = pd.DataFrame(
        {
            "ema20": indicators.ema(close, 20),
            "ema50": indicators.ema(close, 50),
            "rsi": indicators.rsi(close, 14),
        }
    ).join(indicators.bollinger(close, 20, 2.0)[["lower", "upper"]])
    visible = frame.iloc[-candles:]
    over = overlays.iloc[-candles:]
    plots = []
    legend = []
    for column, colour, label in (("ema20", "#f7c948", "EMA 20"), ("ema50", "#4fc3f7", "EMA 50")):
        if over[column].notna().any():
            plots.append(mpf.make_addplot(over[column], color=colour, width=1.1))
            legend.append(label)
    for column in ("lower", "upper"):
        if over[column].notna().any():
            plots.append(mpf.make_addplot(over[column], color="#9575cd", width=0.8, linestyle="--"))
    if over["rsi"].notna().any():
        plots.append(
            mpf.make_addplot(
                over["rsi"], panel=2, color="#ffb74d", ylabel="RSI 14", ylim=(0, 100), width=1.0
            )
        )
    for side, shape, colour in (("buy", "^", "#00e676"), ("sell", "v", "#ff1744")):
        ys = marker_series(visible, spec.markers, side)
        if ys.notna().any():
            plots.append(
                mpf.make_addplot(ys, type="scatter", marker=shape, markersize=90, color=colour)
            )
    kwargs: dict = {}
    if spec.levels:
        low, high = visible["low"].min(), visible["high"].max()
        shown = [lvl for lvl in spec.levels if low * 0.9 <= lvl <= high * 1.1]
        if shown:
            kwargs["hlines"] = {
                "hlines": shown,
                "colors": "#8d6e63",
                "linestyle": ":",
                "linewidths": 1,
            }
    with _render_lock:
        fig, axes = mpf.plot(
            visible,
            type="candle",
            style=_STYLE,
            volume=True,
            addplot=plots,
            panel_ratios=(5, 1.3, 1.7) if over["rsi"].notna().any() else (5, 1.3),
            figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI),
            returnfig=True,
            tight_layout=False,
            scale_padding={"left": 0.55, "right": 0.75, "top": 0.45, "bottom": 0.5},
            datetime_format="%m-%d %H:%M",
            xrotation=0,
            warn_too_much_data=10_000,
            **kwargs,
        )
        try:
            axes[0].set_title(spec.title, color="white", fontsize=13, loc="left")
            axes[0].legend(
                [line for line in axes[0].get_lines()[: len(legend)]],
                legend,
                loc="upper left",
                fontsize=8,
                facecolor="#1e222d",
                labelcolor="white",
                framealpha=0.8,
            )
            if spec.subtitle:
                axes[0].text(
                    0.995,
                    1.01,
                    spec.subtitle,
                    transform=axes[0].transAxes,
                    ha="right",
                    va="bottom",
                    color="#b0bec5",
                    fontsize=9,
                )
            if spec.watermark:
                axes[0].text(
                    0.5,
                    0.5,
                    spec.watermark,
                    transform=axes[0].transAxes,
                    ha="center",
                    va="center",
                    fontsize=60,
                    color="white",
                    alpha=0.07,
                )
            if over["rsi"].notna().any() and len(axes) > 4:
                for level in (30, 70):
                    axes[4].axhline(level, color="#546e7a", linewidth=0.7, linestyle="--")
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=DPI, facecolor=fig.get_facecolor())
        finally:
            plt.close(fig)
    return buffer.getvalue()
