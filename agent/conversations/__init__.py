"""Conversation storage: conversations, runs, their steps and messages, the feed of events, admission and claims."""
