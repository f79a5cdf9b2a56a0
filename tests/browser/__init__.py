"""The published site in a real Chromium: pages, links, search, copy buttons, phone width."""
