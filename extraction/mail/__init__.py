"""The mail gate: incoming request and deletion lists, and the replies to them."""
