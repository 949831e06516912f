"""Simulated people and chats, what the server records for tests, and its internal records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# -- simulated people and chats -------------------------------------------------------------


@dataclass
class SimUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    is_premium: bool = False
    deactivated: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.is_premium:
            data["is_premium"] = True
        return data


@dataclass
class SimChat:
    id: int
    type: str  # "private" | "group" | "supergroup" | "channel"
    title: str | None = None
    username: str | None = None
    user: SimUser | None = None  # the other side of a private chat
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    bot_status: str = "member"  # the bot's own status in a group or channel
    blocked: bool = False  # private: the user blocked the bot; groups: the bot was removed
    migrated_to: int | None = None
    is_forum: bool = False

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.is_private and self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        data["title"] = self.title or ""
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageVersion:
    """The content of a bot message at one time (the original or after an edit)."""

    method: str
    text: str | None
    caption: str | None
    parse_mode: str | None
    plain: str | None  # text or caption as shown: markup parsed, trimmed
    entities: tuple[tuple[tuple[str, Any], ...], ...]
    photo_file_id: str | None
    document_name: str | None
    document_file_id: str | None
    reply_markup: dict[str, Any] | None
    date: int


@dataclass(eq=False)
class SentMessage:
    """A message the bot sent, as it is now; `versions` holds what it was before edits."""

    chat_id: int
    message_id: int
    method: str
    text: str | None = None  # as sent (with its markup); None for media messages
    caption: str | None = None  # as sent
    parse_mode: str | None = None
    photo_file_id: str | None = None  # the largest PhotoSize's file_id
    document_name: str | None = None
    reply_markup: dict[str, Any] | None = None  # parsed; any keyboard type
    uploaded: bool = False  # the photo/document came as bytes, not a file_id
    plain: str | None = None  # text or caption as the user sees it
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo: list[dict[str, Any]] | None = None  # PhotoSize dicts, smallest first
    document: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None
    date: int = 0
    edit_date: int | None = None
    reply_to_message_id: int | None = None
    deleted: bool = False
    versions: list[MessageVersion] = field(default_factory=list)  # earlier ones, oldest first
    params: dict[str, Any] = field(default_factory=dict)  # every parameter of the request

    @property
    def edited(self) -> bool:
        return bool(self.versions)

    @property
    def document_file_id(self) -> str | None:
        return self.document["file_id"] if self.document else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button labelled `text` (exact match, else the only one containing it)."""
        exact = [b for b in self.buttons if b.get("text") == text]
        found = exact or [b for b in self.buttons if text in str(b.get("text", ""))]
        if len(found) != 1:
            labels = [b.get("text") for b in self.buttons]
            raise LookupError(f"no single button {text!r} in message {self.message_id}: {labels}")
        return found[0]

    def snapshot(self) -> MessageVersion:
        return MessageVersion(
            method=self.method,
            text=self.text,
            caption=self.caption,
            parse_mode=self.parse_mode,
            plain=self.plain,
            entities=tuple(tuple(sorted(e.items())) for e in self.entities),
            photo_file_id=self.photo_file_id,
            document_name=self.document_name,
            document_file_id=self.document_file_id,
            reply_markup=self.reply_markup,
            date=self.edit_date or self.date,
        )


@dataclass
class Edit:
    method: str
    chat_id: int
    message_id: int
    before: MessageVersion
    after: MessageVersion
    message: SentMessage


@dataclass
class Upload:
    """File bytes the bot uploaded (photo or document)."""

    method: str
    kind: str  # "photo" | "document"
    chat_id: int
    file_name: str
    size: int
    file_id: str
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass
class RequestRecord:
    method: str  # canonical name when known, else as requested
    status: int  # HTTP status answered (499: the client left before it was processed)
    chat_id: Any = None
    description: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    via: str = "http"  # or "webhook" for a method answered in a webhook response
    at: float = 0.0  # monotonic


@dataclass
class CallbackAnswer:
    callback_query_id: str
    update_id: int
    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


@dataclass
class PreCheckoutAnswer:
    pre_checkout_query_id: str
    update_id: int
    ok: bool
    error_message: str | None = None


@dataclass
class WebhookDelivery:
    update_id: int
    status: int | None  # None: connection error
    error: str | None = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "photo" | "document"
    content: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def file_size(self) -> int:
        return len(self.content)


# -- internal records ---------------------------------------------------------------------


@dataclass
class _Fault:
    method: str  # lower-case method name or "*"
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    times: int
    delay: float
    body: str | None
    disconnect: bool
    processed: bool


@dataclass
class _Delay:
    seconds: float
    method: str  # lower-case or "*"
    times: int | None
    after: bool


@dataclass
class _Part:
    filename: str
    content: bytes
    content_type: str | None = None


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    allowed_updates: list[str] | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Query:
    update_id: int
    answered: bool = False


class _Described:
    """A result with the `description` Telegram adds to some answers (setWebhook…)."""

    def __init__(self, result: Any, description: str) -> None:
        self.result = result
        self.description = description
