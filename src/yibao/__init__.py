"""yibao — medical-insurance personal accounts (医保个人账户)."""

__version__ = "0.1.0"
