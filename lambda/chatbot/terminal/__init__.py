"""``chatbot chat``: a terminal client of the chat protocol (docs/protocol.md)."""
