"""Answers to the simulated people's queries and payments: answerCallbackQuery,
answerPreCheckoutQuery and refundStarPayment."""

from __future__ import annotations

from typing import Any

from tests.telegram_server.constants import CALLBACK_ANSWER_LIMIT, QUERY_TOO_OLD
from tests.telegram_server.errors import bad_request
from tests.telegram_server.params import _bool, _int, _str
from tests.telegram_server.records import CallbackAnswer, PreCheckoutAnswer, _Part, _Query


class Queries:
    """Callback and pre-checkout answers, Stars refunds.

    A part of `TelegramServer` (server.py), whose `__init__` sets up the state used here."""

    callback_answers: list[CallbackAnswer]
    pre_checkout_answers: list[PreCheckoutAnswer]
    refunds: list[tuple[int, str]]
    _callback_queries: dict[str, _Query]
    _pre_checkouts: dict[str, _Query]
    _payments: set[tuple[int, str]]

    # -- methods: queries and payments ---------------------------------------------------------

    def _answer_callback_query(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        query_id = _str(params, "callback_query_id") or ""
        query = self._callback_queries.get(query_id)
        if query is None or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        text = _str(params, "text")
        if text is not None and len(text) > CALLBACK_ANSWER_LIMIT:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        self.callback_answers.append(
            CallbackAnswer(
                query_id,
                query.update_id,
                text,
                _bool(params, "show_alert"),
                _str(params, "url"),
                _int(params, "cache_time"),
            )
        )
        return True

    def _answer_pre_checkout_query(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        query_id = _str(params, "pre_checkout_query_id") or ""
        query = self._pre_checkouts.get(query_id)
        if query is None or query.answered:
            raise bad_request(QUERY_TOO_OLD)
        ok = _bool(params, "ok")
        error_message = _str(params, "error_message")
        if not ok and not error_message:
            raise bad_request("error_message is empty")
        query.answered = True
        self.pre_checkout_answers.append(
            PreCheckoutAnswer(query_id, query.update_id, ok, error_message)
        )
        return True

    def _refund_star_payment(self, params: dict[str, Any], files: dict[str, _Part]) -> bool:
        key = (_int(params, "user_id") or 0, _str(params, "telegram_payment_charge_id") or "")
        if key not in self._payments:
            raise bad_request("CHARGE_NOT_FOUND")
        if key in self.refunds:
            raise bad_request("CHARGE_ALREADY_REFUNDED")
        self.refunds.append(key)
        return True
