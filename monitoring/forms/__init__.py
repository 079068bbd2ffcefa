"""The forms of monitoring's pages: entry.py (a draw, a correction), signed.py (decisions,
unblinding, the second factor), data_queries.py (raise, answer, close, send back)."""
