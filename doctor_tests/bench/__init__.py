"""``doctor bench``: scale and speed of the fault path, measured on the lab."""
