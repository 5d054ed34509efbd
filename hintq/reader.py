"""The serving library lives in `online.reader`; `from hintq.reader import HintQReader` still works."""
from online.reader import Health, HintQReader, Lookup, PointerMissing, ReaderUnavailable

__all__ = ["Health", "HintQReader", "Lookup", "PointerMissing", "ReaderUnavailable"]
