"""Middleware pieces on their own: aiogram's i18n over our catalogues, and which
ADMIN_IDS are Telegram's."""

from __future__ import annotations

from bot.telegram.app import telegram_admins
from bot.telegram.middlewares import CatalogueI18n
from handlers.i18n import SUPPORTED_LANGUAGES, Translator


def test_aiogram_i18n_reads_the_same_catalogues() -> None:
    i18n = CatalogueI18n()
    assert set(i18n.available_locales) == set(SUPPORTED_LANGUAGES)
    for code in SUPPORTED_LANGUAGES:
        assert i18n.gettext("24h change", locale=code) == Translator(code).gettext("24h change")
    assert i18n.gettext("24h change", locale="id") != "24h change"
    with i18n.context(), i18n.use_locale("tr"):
        from aiogram.utils.i18n import gettext

        assert gettext("24h change") == Translator("tr").gettext("24h change")


def test_telegram_admins_from_admin_ids() -> None:
    assert telegram_admins(("telegram:12", "discord:34", "56", "x:y", "telegram:abc")) == [12, 56]
