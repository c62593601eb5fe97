"""Resources: host samples (CPU, memory, GPU, network) and endpoint probes."""
