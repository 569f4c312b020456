"""Pictures of plates and fields for people: the PNG preview and the SVG sky map (no Django)."""
