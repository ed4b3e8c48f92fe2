"""tocsin: hear what is said about you online, answer with one voice, ring the bell early."""

from tocsin.mention import Author, Mention, Metrics, Sentiment

__all__ = ["Author", "Mention", "Metrics", "Sentiment", "__version__"]

__version__ = "0.1.0"
