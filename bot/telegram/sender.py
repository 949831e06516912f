"""The delivery worker's way into Telegram (`bot.delivery.Sender`).

A notification is rendered like any reply (HTML, a photo with its caption when it has
a picture, buttons as an inline keyboard). The picture is uploaded the first time and
sent by `file_id` after; `Sent.file_id` reports the upload so the worker stores it for
every other recipient. Telegram's limits are kept on our side (`TelegramLimits`,
shared with replies), and aiogram's errors become the worker's:

- `TelegramRetryAfter` → `RetryAfter(retry_after)` (the worker waits exactly that);
- blocked, kicked, deactivated, chat not found, migrated → `ChatUnavailable`;
- server errors, network errors, timeouts → `TransientError` (retried with backoff);
- any other rejection (`TelegramBadRequest` …) → `PermanentError`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from bot.delivery import (
    ChatUnavailable,
    Outgoing,
    PermanentError,
    RetryAfter,
    Sent,
    TransientError,
)
from bot.telegram.keyboards import build_keyboard
from bot.telegram.present import Presenter
from bot.telegram.render import render_caption

GONE = ("chat not found", "user is deactivated", "bot was kicked", "not enough rights")


class TelegramSender:
    platform = "telegram"

    def __init__(self, presenter: Presenter) -> None:
        self.presenter = presenter

    async def send(self, message: Outgoing) -> Sent:
        return await translate_errors(lambda: self._send(message))

    async def _send(self, message: Outgoing) -> Sent:
        presenter = self.presenter
        chat_id = int(message.chat_external_id)
        reply = message.reply
        kind = message.chat_kind
        if message.image is None and message.file_id is None:
            sent = await presenter.send(chat_id, reply, kind=kind, retry=False)
            return Sent(str(sent[0].message_id))
        # A notification's picture: the worker passes its bytes and, once some send
        # uploaded it, Telegram's file id.
        keyboard = build_keyboard(reply.buttons, None, presenter.store)
        caption, rest = render_caption(reply)
        photo, uploaded = await presenter.send_photo(
            chat_id,
            None,
            caption,
            keyboard,
            kind=kind,
            retry=False,
            png=message.image,
            filename=message.image_name or "chart.png",
            file_id=message.file_id,
        )
        for chunk in rest:
            await presenter.send_text(chat_id, chunk, kind=kind, retry=False)
        return Sent(str(photo.message_id), file_id=uploaded)


async def translate_errors[T](call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except TelegramRetryAfter as error:
        raise RetryAfter(float(error.retry_after), error.message) from error
    except TelegramMigrateToChat as error:
        raise ChatUnavailable(
            f"group became supergroup {error.migrate_to_chat_id}: {error.message}"
        ) from error
    except TelegramForbiddenError as error:
        raise ChatUnavailable(error.message) from error
    except TelegramEntityTooLarge as error:
        raise PermanentError(error.message) from error
    except (TelegramBadRequest, TelegramNotFound) as error:
        if any(reason in error.message.lower() for reason in GONE):
            raise ChatUnavailable(error.message) from error
        raise PermanentError(error.message) from error
    except (TelegramServerError, TelegramNetworkError, TelegramUnauthorizedError) as error:
        raise TransientError(error.message) from error
    except TelegramAPIError as error:
        raise PermanentError(error.message) from error
    except ClientDecodeError as error:  # e.g. a proxy's HTML error page
        raise TransientError(str(error)) from error
    except TimeoutError as error:
        raise TransientError(f"timeout: {error}") from error
