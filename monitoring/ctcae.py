"""CTCAE v5.0 grades of liver tests from their ×ULN (pure). Shown next to lab values; the
monitoring rules (rules.py) never use them.

Each grade is (grade, above): the grade applies when the multiple is greater than `above`
and at most the next grade's bound.
"""

from fractions import Fraction

GRADES = {
    # ALT/AST increased: >ULN-3.0×, >3.0-5.0×, >5.0-20.0×, >20.0×
    "ALT": ((1, Fraction(1)), (2, Fraction(3)), (3, Fraction(5)), (4, Fraction(20))),
    "AST": ((1, Fraction(1)), (2, Fraction(3)), (3, Fraction(5)), (4, Fraction(20))),
    # Blood bilirubin increased: >ULN-1.5×, >1.5-3.0×, >3.0-10.0×, >10.0×
    "TBIL": ((1, Fraction(1)), (2, Fraction(3, 2)), (3, Fraction(3)), (4, Fraction(10))),
}


def grade(analyte: str, multiple) -> int | None:
    """The CTCAE v5 grade (0-4) of a result, or None when the test has no graded ×ULN."""
    bounds = GRADES.get(analyte)
    if bounds is None or multiple is None:
        return None
    if not isinstance(multiple, Fraction):
        multiple = Fraction(multiple)
    for value, above in reversed(bounds):
        if multiple > above:
            return value
    return 0


def describe_bounds(analyte: str) -> list[tuple[int, str]]:
    """[(1, '> 1× to 3× ULN'), ...] for the rules page."""
    bounds = GRADES[analyte]
    rows = []
    for i, (value, above) in enumerate(bounds):
        upper = bounds[i + 1][1] if i + 1 < len(bounds) else None
        low = "ULN" if above == 1 else f"{float(above):g}× ULN"
        text = f"> {low}" + (f" to {float(upper):g}× ULN" if upper else "")
        rows.append((value, text))
    return rows
