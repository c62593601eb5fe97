"""Exported data sets (training sets) and their expiring download links."""
