from .calculator import MLFFCalculator  # noqa: F401  users import it from here
