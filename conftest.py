"""Root pytest configuration: what doctest collection must not import."""

collect_ignore_glob = ["vigil/store/migrations/*", "bench/*"]
