"""The web entry points: request pages, staging downloads and the JSON API."""
