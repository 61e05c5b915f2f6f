"""omnimogen: instruction-driven 3D human motion generation."""

__version__ = "0.1.0"
