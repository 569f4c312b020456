"""Request-list parsing, mail text, text safety, names and formatting: pure Python, no Django."""
