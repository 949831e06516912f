"""The Telegram front end (aiogram 3).

- `app.py`: `TelegramFrontend`: Bot and Dispatcher, polling or webhook, the command
  menu per language, graceful stop.
- `middlewares.py`: in-flight tracking, errors, throttling, user/chat loading (with the
  group-admin check), aiogram i18n over `locales/`.
- `routers/`: wizards (FSM), typed commands, button presses; all run commands through
  `handlers.dispatch`, exactly as the console does.
- `keyboards.py`: typed `CallbackData` within 64 bytes and what each button does.
- `render.py`: a `Reply` as escaped Telegram HTML, split at 4,096 / 1,024.
- `present.py`: sending and editing replies (file ids reused, limits kept).
- `limits.py`: Telegram's rate limits on our side (aiolimiter).
- `sender.py`: `TelegramSender`, the delivery worker's `Sender`.

Only this package imports aiogram.
"""
