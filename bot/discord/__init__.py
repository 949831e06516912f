"""The Discord front end (discord.py): the registry's commands as slash commands with
autocomplete, replies as embeds with attachments and buttons, deliveries from the
outbox. Only this package imports discord; start it with `bot.discord.app.DiscordFrontend`.
"""
