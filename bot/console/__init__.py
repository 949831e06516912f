"""The console chat: the same commands as Telegram, typed in a terminal or piped."""
