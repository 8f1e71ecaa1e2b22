"""HTTP handlers, one module per resource; each builds its handlers around :class:`Services`."""
