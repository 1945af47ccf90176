"""textgate: a self-hosted SMS and phone-verification server speaking the TextFlow API."""

__version__ = "0.1.0"
