"""Files: uploads and file_ids in requests, the server's file store, and getFile."""

from __future__ import annotations

import hashlib
import itertools
import mimetypes
import re
from typing import Any

from tests.telegram_server.constants import DOWNLOAD_LIMIT, PHOTO_LIMIT, UPLOAD_LIMIT
from tests.telegram_server.errors import ApiError, bad_request
from tests.telegram_server.media import image_size, photo_sizes
from tests.telegram_server.params import _str
from tests.telegram_server.records import SimChat, StoredFile, Upload, _Part


class Files:
    """Photos and documents the bot and the simulated people send.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    uploads: list[Upload]
    _files: dict[str, StoredFile]
    _files_by_path: dict[str, StoredFile]
    _photo_sizes: dict[str, list[dict[str, Any]]]
    _file_counter: itertools.count[int]

    # -- files in requests -----------------------------------------------------------------------

    def _input_file(self, params: dict[str, Any], files: dict[str, _Part], key: str) -> Any:
        """An uploaded `_Part`, a string (file_id or URL), or None."""
        raw = params.get(key)
        if isinstance(raw, str) and raw.startswith("attach://"):
            part = files.get(raw.removeprefix("attach://"))
            if part is None:
                raise bad_request(f"can't find attached file {raw!r}")
            return part
        if key in files:
            return files[key]
        if raw is None or raw == "":
            return None
        return str(raw)

    def _existing_file(self, reference: str, kind: str) -> StoredFile:
        if re.match(r"(?i)https?://", reference):
            raise bad_request("failed to get HTTP URL content")
        stored = self._files.get(reference)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request("type of file mismatch")
        return stored

    # -- files -----------------------------------------------------------------------------------

    def _store_file(
        self,
        kind: str,
        content: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        number = next(self._file_counter)
        digest = hashlib.sha1(f"{kind}:{number}".encode()).hexdigest()
        prefix = "AgACAgIAAxkBAAI" if kind == "photo" else "BQACAgIAAxkBAAI"
        extension = (
            ".jpg" if kind == "photo" else (mimetypes.guess_extension(mime_type or "") or "")
        )
        if kind == "document" and file_name and "." in file_name:
            extension = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}{digest[:24]}",
            file_unique_id=f"AQAD{number:08d}{digest[24:30]}",
            kind=kind,
            content=content,
            file_path=f"{'photos' if kind == 'photo' else 'documents'}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _store_photo(self, content: bytes, width: int, height: int) -> list[dict[str, Any]]:
        sizes = []
        for side, (w, h) in photo_sizes(width, height):
            stored = self._store_file("photo", content, mime_type="image/jpeg", width=w, height=h)
            area = (w * h) / max(1, width * height)
            file_size = len(content) if side is None else max(1, int(len(content) * area))
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": file_size,
                }
            )
        for size in sizes:
            self._photo_sizes[size["file_id"]] = sizes
        return sizes

    @staticmethod
    def _document_api(stored: StoredFile) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if stored.file_name:
            data["file_name"] = stored.file_name
        if stored.mime_type:
            data["mime_type"] = stored.mime_type
        return data

    def _photo_input(self, media: Any) -> tuple[Any, list[dict[str, Any]]]:
        """Validate a photo without storing it: ((width, height), []) for an upload,
        (None, its PhotoSizes) for a file_id."""
        if isinstance(media, _Part):
            if len(media.content) > PHOTO_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            try:
                width, height = image_size(media.content)
            except ValueError:
                raise bad_request("IMAGE_PROCESS_FAILED") from None
            if width + height > 10000 or max(width, height) > 20 * min(width, height):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return (width, height), []
        return None, self._photo_sizes[self._existing_file(media, "photo").file_id]

    def _commit_photo(
        self, media: Any, dims: Any, sizes: list[dict], method: str, chat: SimChat
    ) -> tuple[list[dict[str, Any]], bool]:
        if not isinstance(media, _Part):
            return sizes, False
        width, height = dims
        sizes = self._store_photo(media.content, width, height)
        self.uploads.append(
            Upload(
                method,
                "photo",
                chat.id,
                media.filename,
                len(media.content),
                sizes[-1]["file_id"],
                media.content_type,
                width,
                height,
            )
        )
        return sizes, True

    def _document_input(self, media: Any) -> StoredFile | None:
        """Validate a document: None for an upload (stored on commit), else the stored file."""
        if isinstance(media, _Part):
            if not media.content:
                raise bad_request("file must be non-empty")
            if len(media.content) > UPLOAD_LIMIT:
                raise ApiError(413, "Request Entity Too Large")
            return None
        return self._existing_file(media, "document")

    def _commit_document(
        self, media: Any, stored: StoredFile | None, method: str, chat: SimChat
    ) -> tuple[StoredFile, bool]:
        if stored is not None:
            return stored, False
        mime = (
            media.content_type
            if media.content_type and media.content_type != "application/octet-stream"
            else mimetypes.guess_type(media.filename)[0] or "application/octet-stream"
        )
        stored = self._store_file(
            "document", media.content, file_name=media.filename, mime_type=mime
        )
        self.uploads.append(
            Upload(
                method,
                "document",
                chat.id,
                media.filename,
                len(media.content),
                stored.file_id,
                mime,
            )
        )
        return stored, True

    # -- methods: files --------------------------------------------------------------------------

    def _get_file(self, params: dict[str, Any], files: dict[str, _Part]) -> Any:
        stored = self._files.get(_str(params, "file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size > DOWNLOAD_LIMIT:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }
