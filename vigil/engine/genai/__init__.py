"""Language-model calls: OTLP spans to predictions, their text, metrics and answer quality."""
