"""The application's projectors, one module per entity. ``PROJECTIONS=projections`` loads all."""
