"""How a person is named on pages, e-mails, signatures and files: their full name, else their
username; from a user, or from a row's name columns (read as values, no user instance)."""


def name_columns(relation) -> tuple:
    """The columns name_from reads, in its order, of the user at `relation` ("reviewer"), for
    values_list."""
    return tuple(f"{relation}__{column}" for column in ("first_name", "last_name", "username"))


def name_from(first, last, username) -> str:
    """A person's name from their first name, last name and username; "" for nobody (a row no
    one signed, such as an import's, reads None for all three)."""
    if username is None:
        return ""
    return f"{first} {last}".strip() or username


def name_of(user) -> str:
    return name_from(user.first_name, user.last_name, user.get_username())
