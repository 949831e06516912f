"""Languages: complete catalogues, the user's language everywhere, locale formats."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from handlers.dispatch import dispatch
from handlers.i18n import LOCALES_DIR, SUPPORTED_LANGUAGES, Translator, resolve_language

PROJECT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
FIELD = re.compile(r"\{(\w*)\}")


def source_messages() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers", "engine", "storage", "billing"):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            PROJECT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.update(message if isinstance(message, tuple) else (message,))
    return {m for m in found if m}


@pytest.mark.parametrize("language", [code for code in SUPPORTED_LANGUAGES if code != "en"])
def test_catalogue_translates_every_message_with_the_same_fields(language):
    path = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    translated: dict[str, str] = {}
    for m in catalog:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, tuple):  # a plural: every form of the language, each filled
            forms = m.string if isinstance(m.string, tuple) else ()
            if len(forms) == catalog.num_plurals and all(forms):
                translated |= {m.id[0]: forms[0], m.id[1]: forms[-1]}
        elif m.string:
            translated[m.id] = m.string
    missing = sorted(source_messages() - set(translated))
    assert not missing, f"{language}: untranslated (run `make i18n-update`): {missing}"
    for message_id, text in translated.items():
        assert sorted(FIELD.findall(message_id)) == sorted(FIELD.findall(text)), message_id


def test_resolve_language():
    assert resolve_language(None, "id-ID") == "id"
    assert resolve_language("tr", "id") == "tr"
    assert resolve_language(None, "pt-BR") == "en"
    assert resolve_language(None, None) == "en"


def test_locale_formats():
    assert Translator("en").price(104591.88) == "104,591.88"
    assert Translator("id").price(104591.88) == "104.591,88"
    assert Translator("tr").price(104591.88) == "104.591,88"
    assert Translator("en").price(0.00001234) == "0.00001234"
    assert Translator("en").price(2.5) == "2.50"
    assert Translator("en").percent(-3.04) == "−3.04%"
    assert Translator("id").percent(1.5) == "+1,50%"
    assert Translator("en").datetime(1740787200000) == "Mar 1, 2025 00:00 UTC"
    assert "Mar" in Translator("id").datetime(1740787200000)
    assert Translator("tr").datetime(1740787200000).startswith("1 Mar 2025")
    assert Translator("en", "Asia/Jakarta").datetime(1740787200000).endswith("07:00 WIB")


def test_a_broken_translation_field_degrades_instead_of_failing():
    assert Translator("en").gettext("Hello {name} {missing}", name="x") == "Hello x {missing}"


async def test_indonesian_user_gets_indonesian(make_context):
    ctx = await make_context(user_id="62", language_hint="id")
    price = await dispatch(ctx, "/price BTC")
    assert [f.name for f in price.fields][:2] == ["Perubahan 24j", "Tertinggi 24j"]
    assert "84.349,94" in price.title
    assert price.demo.startswith("DEMO · pasar diputar ulang")
    error = await dispatch(ctx, "/chart BTC 2h")
    assert error.text.startswith("“2h” bukan timeframe.")
    assert "Cara pakai: /chart SYMBOL [TF]" in error.text


async def test_turkish_user_gets_turkish(make_context):
    ctx = await make_context(user_id="90", language_hint="tr")
    reply = await dispatch(ctx, "/start")
    assert "yatırım tavsiyesi vermez" in reply.text


async def test_lang_switches_and_is_remembered(make_context):
    ctx = await make_context(user_id="7", language_hint="en")
    reply = await dispatch(ctx, "/lang tr")
    assert reply.text == "Dil Türkçe olarak ayarlandı."
    later = await make_context(user_id="7", language_hint="en")  # the platform hint no longer wins
    assert later.language == "tr"
    assert (await dispatch(later, "/price ETH")).fields[0].name == "24s değişim"
    back = await dispatch(later, "/lang EN")
    assert back.text == "Language set to English."


async def test_lang_without_code_shows_choices(make_context):
    reply = await dispatch(await make_context(language_hint="id"), "/lang")
    assert reply.text.startswith("Bahasa Anda adalah Bahasa Indonesia.")
    assert [b.action for b in reply.buttons[0]] == ["lang en", "lang id", "lang tr"]
