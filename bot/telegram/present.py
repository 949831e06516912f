"""Showing a `Reply` in a Telegram chat: as new messages, or in place of an old one.

A reply with a picture is a photo whose caption holds the text (what does not fit in
1,024 characters follows as messages); otherwise the text is split into messages of
at most 4,096. The inline keyboard sits on the photo, or on the last text message.
A picture is uploaded once per `Image.cache_key` and re-sent by its file id after.
Every send and edit goes through `TelegramLimits` (a reply waits out a 429).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)

from bot.telegram.keyboards import ActionStore, build_keyboard
from bot.telegram.limits import TelegramLimits
from bot.telegram.render import render_caption, render_chunks
from handlers.context import Services
from handlers.reply import Image, Reply

log = structlog.get_logger(__name__)

HTML = "HTML"
FILE_ID_CACHE = 2048  # pictures remembered by cache key
LANGUAGE_CACHE = 10_000  # users whose language the throttle and error notices know
EMPTY_TEXT = "…"  # a reply with buttons only still needs some text


def not_modified(error: TelegramBadRequest) -> bool:
    return "message is not modified" in error.message


def bad_file_id(error: TelegramBadRequest) -> bool:
    text = error.message.lower()
    return "file identifier" in text or "file_id" in text or "wrong remote file" in text


@dataclass
class Presenter:
    """Everything the routers need to answer in a chat (one per bot)."""

    bot: Bot
    services: Services
    limits: TelegramLimits
    store: ActionStore = field(default_factory=ActionStore)
    file_ids: OrderedDict[str, str] = field(default_factory=OrderedDict)
    languages: OrderedDict[int, str] = field(default_factory=OrderedDict)

    def remember_language(self, user_id: int, language: str) -> None:
        self.languages[user_id] = language
        self.languages.move_to_end(user_id)
        while len(self.languages) > LANGUAGE_CACHE:
            self.languages.popitem(last=False)

    def _remember_file(self, key: str, file_id: str) -> None:
        self.file_ids[key] = file_id
        self.file_ids.move_to_end(key)
        while len(self.file_ids) > FILE_ID_CACHE:
            self.file_ids.popitem(last=False)

    # --- new messages --------------------------------------------------------------

    async def send(
        self,
        chat_id: int,
        reply: Reply,
        *,
        source: str | None = None,
        kind: str | None = None,
        reply_to: int | None = None,
        retry: bool = True,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> list[Message]:
        """Send `reply` as new message(s); the first is the main one (photo or text)."""
        if keyboard is None:
            keyboard = build_keyboard(reply.buttons, source, self.store)
        answer_to = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None
        )
        sent: list[Message] = []
        if reply.image is not None or reply.document is not None:
            caption, rest = render_caption(reply)
            if reply.image is not None:
                message, _ = await self.send_photo(
                    chat_id,
                    reply.image,
                    caption,
                    keyboard,
                    kind=kind,
                    reply_to=answer_to,
                    retry=retry,
                )
                sent.append(message)
            if reply.document is not None:
                document = reply.document
                with_caption = caption if reply.image is None else None
                message = await self.limits.call(
                    chat_id,
                    lambda: self.bot.send_document(
                        chat_id,
                        BufferedInputFile(document.data, filename=document.filename),
                        caption=with_caption,
                        parse_mode=HTML,
                        reply_markup=keyboard if reply.image is None else None,
                        reply_parameters=answer_to if reply.image is None else None,
                    ),
                    kind=kind,
                    retry=retry,
                )
                sent.append(message)
            for chunk in rest:
                sent.append(await self.send_text(chat_id, chunk, kind=kind, retry=retry))
            return sent
        chunks = render_chunks(reply) or [EMPTY_TEXT]
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            sent.append(
                await self.send_text(
                    chat_id,
                    chunk,
                    keyboard=keyboard if last else None,
                    kind=kind,
                    reply_to=answer_to if index == 0 else None,
                    retry=retry,
                )
            )
        return sent

    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard: InlineKeyboardMarkup | None = None,
        kind: str | None = None,
        reply_to: ReplyParameters | None = None,
        retry: bool = True,
    ) -> Message:
        """One message of our own HTML."""
        return await self.limits.call(
            chat_id,
            lambda: self.bot.send_message(
                chat_id,
                text,
                parse_mode=HTML,
                reply_markup=keyboard,
                reply_parameters=reply_to,
            ),
            kind=kind,
            retry=retry,
        )

    async def send_photo(
        self,
        chat_id: int,
        image: Image | None,
        caption: str | None,
        keyboard: InlineKeyboardMarkup | None,
        *,
        kind: str | None = None,
        reply_to: ReplyParameters | None = None,
        retry: bool = True,
        png: bytes | None = None,
        filename: str = "chart.png",
        file_id: str | None = None,
    ) -> tuple[Message, str | None]:
        """Send a picture (`image`, or `png` bytes); by file id when Telegram has it.
        Returns the message and the file id when this call uploaded the picture."""
        if image is not None:
            png, filename = image.png, image.filename
            file_id = file_id or self.file_ids.get(image.cache_key)
        assert png is not None or file_id is not None

        async def post(media: str | BufferedInputFile) -> Message:
            return await self.limits.call(
                chat_id,
                lambda: self.bot.send_photo(
                    chat_id,
                    media,
                    caption=caption,
                    parse_mode=HTML,
                    reply_markup=keyboard,
                    reply_parameters=reply_to,
                ),
                kind=kind,
                retry=retry,
            )

        if file_id is not None:
            try:
                return await post(file_id), None
            except TelegramBadRequest as error:
                if png is None or not bad_file_id(error):
                    raise
                log.info("telegram_file_id_rejected", error=error.message)
        assert png is not None
        message = await post(BufferedInputFile(png, filename=filename))
        uploaded = message.photo[-1].file_id if message.photo else None
        if uploaded and image is not None:
            self._remember_file(image.cache_key, uploaded)
        return message, uploaded

    # --- in place ------------------------------------------------------------------

    async def edit(
        self,
        message: Message,
        reply: Reply,
        *,
        source: str | None,
        page: int = 0,
        keyboard: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Show `reply` in place of `message` (same kind: photo for photo, text for
        text, one message's worth). False when it cannot be; the caller sends it."""
        if keyboard is None:
            keyboard = build_keyboard(reply.buttons, source, self.store, page)
        chat_id, message_id = message.chat.id, message.message_id
        try:
            if reply.image is not None and reply.document is None and message.photo:
                caption, rest = render_caption(reply)
                if rest:
                    return False
                await self._edit_photo(chat_id, message_id, reply.image, caption, keyboard)
                return True
            if reply.image is None and reply.document is None and message.text is not None:
                chunks = render_chunks(reply) or [EMPTY_TEXT]
                if len(chunks) != 1:
                    return False
                await self.limits.call(
                    chat_id,
                    lambda: self.bot.edit_message_text(
                        chunks[0],
                        chat_id=chat_id,
                        message_id=message_id,
                        parse_mode=HTML,
                        reply_markup=keyboard,
                    ),
                )
                return True
        except TelegramBadRequest as error:
            if not_modified(error):
                return True
            if "message to edit not found" in error.message or "can't be edited" in error.message:
                return False
            raise
        return False

    async def _edit_photo(
        self,
        chat_id: int,
        message_id: int,
        image: Image,
        caption: str | None,
        keyboard: InlineKeyboardMarkup | None,
    ) -> None:
        async def edit(media: str | BufferedInputFile) -> Message | bool:
            return await self.limits.call(
                chat_id,
                lambda: self.bot.edit_message_media(
                    media=InputMediaPhoto(media=media, caption=caption, parse_mode=HTML),
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=keyboard,
                ),
            )

        known = self.file_ids.get(image.cache_key)
        if known is not None:
            try:
                await edit(known)
                return
            except TelegramBadRequest as error:
                if not bad_file_id(error):
                    raise
        edited = await edit(BufferedInputFile(image.png, filename=image.filename))
        if isinstance(edited, Message) and edited.photo:
            self._remember_file(image.cache_key, edited.photo[-1].file_id)

    async def edit_keyboard(self, message: Message, keyboard: InlineKeyboardMarkup | None) -> None:
        chat_id, message_id = message.chat.id, message.message_id
        try:
            await self.limits.call(
                chat_id,
                lambda: self.bot.edit_message_reply_markup(
                    chat_id=chat_id, message_id=message_id, reply_markup=keyboard
                ),
            )
        except TelegramBadRequest as error:
            if not not_modified(error):
                raise

    async def edit_text(
        self, message: Message, text: str, keyboard: InlineKeyboardMarkup | None = None
    ) -> bool:
        """Replace a text message's text (our own HTML); False if that is impossible."""
        chat_id, message_id = message.chat.id, message.message_id
        try:
            await self.limits.call(
                chat_id,
                lambda: self.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=HTML,
                    reply_markup=keyboard,
                ),
            )
        except TelegramBadRequest as error:
            return not_modified(error)
        return True
