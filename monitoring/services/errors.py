"""What a write refuses: one error class that names the field it concerns."""


class EntryError(ValueError):
    """Bad input, naming the field it concerns."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
