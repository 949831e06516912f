"""A local stand-in for the Telegram Bot API, for aiogram's real `Bot` and end-to-end tests.

Point aiogram at it with
`AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))` (or `server.make_bot()`),
using `server.token`. Routes are Telegram's: `/bot{token}/{method}` (GET or POST; query,
urlencoded, multipart or JSON parameters, as aiogram and curl send them) and
`/file/bot{token}/{file_path}` for downloads. Requests with another token get 401
`Unauthorized`, unknown methods and routes 404 `Not Found`, as Telegram does.

What it does like Telegram:

- Real response shapes (`{"ok": true, "result": …}` / `{"ok": false, "error_code": N,
  "description": "…", "parameters": {"retry_after": N}}`), so aiogram parses them into its
  types and raises its own exceptions (`TelegramBadRequest`, `TelegramRetryAfter`, …).
- Validation: text 1..4096 and captions ≤ 1024 UTF-16 code units after entity parsing and
  trimming; `parse_mode` HTML (only Telegram's tags, strictly nested, `&lt; &gt; &amp; &quot;`
  and numeric entities), MarkdownV2 (reserved characters must be escaped) and legacy
  Markdown, with tdlib's error texts ("can't parse entities: …"); inline keyboards
  (one action per button, callback_data 1..64 bytes); photos must be real PNG/JPEG uploads
  or file_ids this server issued; edits of missing messages, identical edits ("message is
  not modified"); unknown chats; blocked users and kicked bots (403).
- Rate limits (`RateLimits`, default Telegram's published ones): 30 messages/s per bot,
  1/s per private chat with a burst of 3, 20/min per group; counted for messages sent and
  edited; 429 with `retry_after` from the token buckets (clock `time.monotonic`, injectable).
- getUpdates long polling (offset/limit/timeout/allowed_updates, woken at once by a new
  update, 409 to the earlier poll when another one starts), webhooks (updates POSTed as JSON
  with `X-Telegram-Bot-Api-Secret-Token`, retried until a 2xx answer, a method in the
  webhook's answer is executed as Telegram does; getUpdates is 409 while one is set).

Controlling and observing it from tests:

- Simulated people: `user()`, `private_chat()`, `group()`, then `await send_text()`,
  `press_button()`, `send_document()`, `send_photo()`, `pre_checkout()`,
  `successful_payment()` queue updates with Telegram's shapes and return their update_id.
- Faults: `fail_next(method, status, …)`, `block_chat(chat_id)`, `delay(seconds)`,
  `migrate_group()`.
- Records: `sent` (`SentMessage`s in order; `sent_to(chat_id)`), `edits`, `deleted`,
  `uploads`, `requests`, `commands`, `callback_answers`, `pre_checkout_answers`,
  `chat_actions`, `webhook_deliveries`, `too_many_requests` (+ per chat).
- Waiting without sleeping: `wait_for_messages()`, `wait_for()`, `wait_idle()`.

Standalone: `python -m tests.telegram_server --port 8081` prints the base URL and token
(as TELEGRAM_API_URL / TELEGRAM_BOT_TOKEN for `python main.py`), prints every message the
bot sends, and sends each line typed on stdin as a message from a simulated user
(`!press <message_id> <callback_data>` presses a button). Control routes:
`POST /_control/message` `{"user_id": 1, "text": "/start"}`,
`POST /_control/press` `{"user_id": 1, "message_id": 5, "data": "x"}`,
`POST /_control/fault` `{"method": "sendMessage", "status": 502}`,
`POST /_control/block` `{"chat_id": 1, "blocked": true}`,
`GET /_control/sent?chat_id=1`.

Layout of this package (each module holds one responsibility; `TelegramServer` is put
together from mixins, one per area, in `server.py`):

- `server.py`: `TelegramServer`: its state (`__init__`) and lifecycle (start/stop, app,
  `make_bot`); `people.py`: simulated people and chats and the updates they cause;
  `control.py`: faults, delays, queries for tests, waiting, control routes; `dispatch.py`:
  the HTTP routes; `params.py`: reading and validating request parameters; `limits.py`:
  rate limits; `files.py`: the file store; `messages.py`: the bot's messages and the send
  methods; `editing.py`: edits and deletions; `updates.py`: getMe, getUpdates, webhooks;
  `queries.py`: callback/pre-checkout answers and refunds; `commands.py`: commands, menu
  button, bot texts; `chats.py`: getChat and chat members.
- `constants.py`, `errors.py`, `records.py` (dataclasses: `SimUser`, `SentMessage`, …),
  `media.py` (`png_bytes`, `image_size`), `entities.py` (`utf16_len`, `detect_entities`),
  `formatting.py` (`parse_entities`), `html_mode.py` and `markdown_mode.py` (the parse
  modes), `cli.py` (standalone use, `__main__.py`).
"""

from __future__ import annotations

from tests.telegram_server.cli import main
from tests.telegram_server.constants import (
    ADMIN_STATUSES,
    BUTTON_ACTIONS,
    CALLBACK_ANSWER_LIMIT,
    CALLBACK_DATA_LIMIT,
    CAPTION_LIMIT,
    CHAT_ACTIONS,
    COMMAND_SCOPES,
    DEFAULT_EXCLUDED_UPDATES,
    DEFAULT_FAULT_DESCRIPTIONS,
    DEFAULT_TOKEN,
    DOWNLOAD_LIMIT,
    NOT_MODIFIED,
    PHOTO_LIMIT,
    QUERY_TOO_OLD,
    TEXT_LIMIT,
    UPLOAD_LIMIT,
)
from tests.telegram_server.entities import detect_entities, utf16_len
from tests.telegram_server.errors import ApiError, EntityParseError, bad_request
from tests.telegram_server.formatting import parse_entities
from tests.telegram_server.html_mode import parse_html
from tests.telegram_server.limits import RateLimits
from tests.telegram_server.markdown_mode import parse_markdown, parse_markdown_v2
from tests.telegram_server.media import image_size, photo_sizes, png_bytes
from tests.telegram_server.records import (
    CallbackAnswer,
    Edit,
    MessageVersion,
    PreCheckoutAnswer,
    RequestRecord,
    SentMessage,
    SimChat,
    SimUser,
    StoredFile,
    Upload,
    WebhookDelivery,
)
from tests.telegram_server.server import TelegramServer

__all__ = [
    "ADMIN_STATUSES",
    "BUTTON_ACTIONS",
    "CALLBACK_ANSWER_LIMIT",
    "CALLBACK_DATA_LIMIT",
    "CAPTION_LIMIT",
    "CHAT_ACTIONS",
    "COMMAND_SCOPES",
    "DEFAULT_EXCLUDED_UPDATES",
    "DEFAULT_FAULT_DESCRIPTIONS",
    "DEFAULT_TOKEN",
    "DOWNLOAD_LIMIT",
    "NOT_MODIFIED",
    "PHOTO_LIMIT",
    "QUERY_TOO_OLD",
    "TEXT_LIMIT",
    "UPLOAD_LIMIT",
    "ApiError",
    "CallbackAnswer",
    "Edit",
    "EntityParseError",
    "MessageVersion",
    "PreCheckoutAnswer",
    "RateLimits",
    "RequestRecord",
    "SentMessage",
    "SimChat",
    "SimUser",
    "StoredFile",
    "TelegramServer",
    "Upload",
    "WebhookDelivery",
    "bad_request",
    "detect_entities",
    "image_size",
    "main",
    "parse_entities",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "photo_sizes",
    "png_bytes",
    "utf16_len",
]
