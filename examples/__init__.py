"""Bring-your-own-method examples (docs/bring_your_own_method.md); importable as ``examples.*``."""
