"""/start, /help and /lang."""

from __future__ import annotations

from handlers.args import CommandNameArg, LanguageArg
from handlers.context import Context
from handlers.i18n import N_, SUPPORTED_LANGUAGES, Translator
from handlers.registry import Command, CommandGroup, Param
from handlers.reply import Button, Field, Reply
from storage.accounts import set_chat_language, set_user_language

group = CommandGroup("general")

CATEGORY_TITLES = {
    "general": N_("Getting started"),
    "market": N_("Market"),
    "alarms": N_("Alarms"),
    "tools": N_("Trading tools"),
    "account": N_("Account"),
    "admin": N_("Admin"),
}

DISCLAIMER = N_(
    "PulseWave gives market information, not financial advice. Prices and signals can be "
    "wrong or late, and trading crypto can lose you money: decide for yourself and never "
    "risk more than you can afford to lose."
)


def main_menu(ctx: Context) -> list[list[Button]]:
    # Areas whose list command exists in this version (alarms, signals …).
    registry = ctx.services.registry
    areas = [
        Button(ctx._(label), action)
        for label, action in ((N_("🔔 Alarms"), "alarms"), (N_("📋 Signals"), "signals"))
        if registry.find(action) is not None
    ]
    return [
        [
            Button(ctx._(N_("💰 BTC price")), "price BTC"),
            Button(ctx._(N_("💰 ETH price")), "price ETH"),
        ],
        [
            Button(ctx._(N_("📈 BTC chart")), "chart BTC"),
            Button(ctx._(N_("📈 ETH chart")), "chart ETH"),
        ],
        *([areas] if areas else []),
        [Button(ctx._(N_("❓ Help")), "help")],
    ]


def language_buttons() -> list[list[Button]]:
    return [[Button(name, f"lang {code}") for code, name in SUPPORTED_LANGUAGES.items()]]


@group.command(
    "start", N_("Welcome, language choice, risk disclaimer and the main menu"), examples=["/start"]
)
async def start(ctx: Context) -> Reply:
    name = ctx.user.display_name or ctx._(N_("trader"))
    text = "\n\n".join(
        [
            ctx._(
                N_(
                    "I watch the crypto market for you: prices, charts, and (soon) alarms, "
                    "signals and trading tools, right here in the chat."
                )
            ),
            ctx._(N_("Try /price BTC or /chart ETH 4h. Send /help for every command.")),
            "⚠️ " + ctx._(DISCLAIMER),
            ctx._(N_("Language:")),
        ]
    )
    return Reply(
        title=ctx._(N_("👋 Welcome to PulseWave, {name}!"), name=name),
        text=text,
        buttons=language_buttons() + main_menu(ctx),
    )


@group.command(
    "help",
    N_("The command list, or one command's usage with examples"),
    params=[Param("command", CommandNameArg(), N_("a command name"), optional=True)],
    examples=["/help", "/help chart"],
)
async def help_(ctx: Context, command: str | None) -> Reply:
    registry = ctx.services.registry
    if command is not None:
        found = registry.find(command)
        assert found is not None  # CommandNameArg checked it
        return command_help(ctx, found)
    lines: list[str] = []
    category = None
    for item in registry.visible(ctx.user.is_admin):
        if item.category != category:
            category = item.category
            lines.append("")
            lines.append(ctx._(CATEGORY_TITLES.get(category, category)))
        lines.append(f"{item.usage} — {ctx._(item.summary)}")
    lines.append("")
    lines.append(ctx._(N_("Send /help COMMAND for details, e.g. /help chart.")))
    return Reply(title=ctx._(N_("PulseWave commands")), text="\n".join(lines).strip())


def command_help(ctx: Context, command: Command) -> Reply:
    lines = [ctx._(command.summary), "", ctx._(N_("Usage: {usage}"), usage=command.usage)]
    fields = [
        Field(p.type.metavar, ctx._(p.help) if p.help else "", inline=False) for p in command.params
    ]
    if command.examples:
        lines.append(ctx._(N_("Examples:")))
        lines.extend(f"  {example}" for example in command.examples)
    return Reply(title=f"/{command.name}", text="\n".join(lines), fields=fields)


@group.command(
    "lang",
    N_("Set your language"),
    params=[Param("code", LanguageArg(), N_("language code: en, id, tr"), optional=True)],
    examples=["/lang id", "/lang en"],
)
async def lang(ctx: Context, code: str | None) -> Reply:
    if code is None:
        current = SUPPORTED_LANGUAGES[ctx.language]
        return Reply(
            text=ctx._(N_("Your language is {language}. Choose another:"), language=current),
            buttons=language_buttons(),
        )
    async with ctx.services.db.session() as session:
        await set_user_language(session, ctx.user.id, code)
        if not ctx.chat.is_group or ctx.manages_chat:
            # Deliveries to this chat (alarms, signals) follow: a group's admin sets the
            # group's language with /lang.
            await set_chat_language(session, ctx.chat.id, code)
    ctx.tr = Translator(code, ctx.tr.timezone)  # answer in the new language right away
    return Reply(
        text=ctx._(N_("Language set to {language}."), language=SUPPORTED_LANGUAGES[code]),
        buttons=main_menu(ctx),
    )
