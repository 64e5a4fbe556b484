"""Math engines: each turns one TeX formula into SVG drawing parts (see _types)."""
