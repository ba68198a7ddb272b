"""firstpass: a calibrated human-in-the-loop pre-review gate for AI-written cold-email first lines."""

__version__ = "0.1.0"
