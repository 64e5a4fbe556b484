"""One module per output format; each takes the deck and writes one file."""
