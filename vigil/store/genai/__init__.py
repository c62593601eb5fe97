"""Store reads of language-model calls."""
